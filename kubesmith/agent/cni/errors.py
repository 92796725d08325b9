"""Errors raised while calling CNI plugins."""

from __future__ import annotations

# CNI spec error codes (well-known codes 1-11; 100+ are plugin-specific).
CODE_INCOMPATIBLE_VERSION = 1
CODE_UNSUPPORTED_FIELD = 2
CODE_UNKNOWN_CONTAINER = 3
CODE_INVALID_ENVIRONMENT = 4
CODE_IO_FAILURE = 5
CODE_DECODING_FAILURE = 6
CODE_INVALID_NETWORK_CONFIG = 7
CODE_TRY_AGAIN_LATER = 11
# Not from a plugin: the agent could not run it (missing binary, timeout, bad output).
CODE_INVOCATION = 999


class CNIError(Exception):
    """A plugin reported an error (its JSON ``{code, msg, details}``) or could not be run.

    ``msg`` is the plugin's own message; ``str()`` adds which plugin and operation failed,
    like libcni: ``plugin type="bridge" name="kubesmith" failed (add): <msg>``.
    """

    def __init__(self, msg: str, *, code: int = CODE_INVOCATION, details: str = "",
                 plugin: str = "", network: str = "", command: str = "") -> None:
        self.msg = msg
        self.code = code
        self.details = details
        self.plugin = plugin
        self.network = network
        self.command = command
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = self.msg + (f"; {self.details}" if self.details else "")
        if not self.plugin:
            return text
        where = f'plugin type="{self.plugin}"'
        if self.network:
            where += f' name="{self.network}"'
        return f"{where} failed ({self.command.lower()}): {text}"


class CNINotReady(CNIError):
    """No network configuration yet: no conflist in conf_dir and no pod CIDR to build one.

    The kubelet reports this on the node as ``NetworkReady=false reason:NetworkPluginNotReady
    message:Network plugin returns error: cni plugin not initialized``.
    """

    def __init__(self, msg: str = "cni plugin not initialized") -> None:
        super().__init__(msg)
