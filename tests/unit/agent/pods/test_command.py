"""How a container's argv, environment and working directory are put together."""

from __future__ import annotations

import pytest

from kubesmith.agent.pods.command import (
    EmptyCommand,
    container_argv,
    expand_command,
    merged_env,
    working_dir,
)

ENTRYPOINT, CMD = ["/docker-entrypoint.sh"], ["nginx", "-g", "daemon off;"]


@pytest.mark.parametrize(("command", "args", "expected"), [
    ([], [], ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]),
    (["sh", "-c"], [], ["sh", "-c"]),                       # command drops CMD too
    (["sh", "-c"], ["echo hi"], ["sh", "-c", "echo hi"]),
    ([], ["nginx-debug"], ["/docker-entrypoint.sh", "nginx-debug"]),  # args replace CMD
], ids=["image defaults", "command only", "command and args", "args only"])
def test_argv_merge(command: list[str], args: list[str], expected: list[str]) -> None:
    assert container_argv(command, args, ENTRYPOINT, CMD) == expected


def test_nothing_to_run() -> None:
    with pytest.raises(EmptyCommand, match="no command specified"):
        container_argv([], [], [], [])


def test_command_and_args_expand_from_the_environment() -> None:
    container = {"command": ["echo", "$(GREETING)", "$$(GREETING)"],
                 "args": ["$(NAME)", "$(MISSING)"]}
    command, args = expand_command(container, [("GREETING", "hi"), ("NAME", "pod")])
    assert command == ["echo", "hi", "$(GREETING)"]
    assert args == ["pod", "$(MISSING)"]


def test_environment_lays_the_container_over_the_image() -> None:
    env = merged_env(["PATH=/usr/bin", "LANG=C", "EMPTY="], [("LANG", "en"), ("X", "1")],
                     "web-0")
    assert env == [("HOSTNAME", "web-0"), ("PATH", "/usr/bin"), ("LANG", "en"),
                   ("EMPTY", ""), ("X", "1")]


@pytest.mark.parametrize(("container", "image", "expected"), [
    ({"workingDir": "/srv"}, "/app", "/srv"), ({}, "/app", "/app"), ({}, "", "/")])
def test_working_dir(container: dict[str, str], image: str, expected: str) -> None:
    assert working_dir(container, image) == expected
