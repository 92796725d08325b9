"""The node agent's pods: the kubelet's pod workers over the runtime, image store, CNI,
volumes and probes.

Entry point: :class:`kubesmith.agent.pods.manager.PodManager` (with
:class:`kubesmith.agent.pods.context.PodConfig`). The pure parts, each testable alone:
:mod:`~.actions` (what a sync does), :mod:`~.status` and :mod:`~.phase` (what is reported),
:mod:`~.env`, :mod:`~.expansion` and :mod:`~.command` (how a container is configured),
:mod:`~.backoff`, :mod:`~.restart`, :mod:`~.qos`, :mod:`~.admission` and :mod:`~.adoption`.
The parts that act: :mod:`~.worker` (one task per pod), :mod:`~.starting`,
:mod:`~.stopping`, :mod:`~.sandbox`, :mod:`~.hooks` and :mod:`~.status_writer`.
Importing this package loads none of them.
"""
