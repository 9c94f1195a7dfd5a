"""The second wall: every value placed in shell, Ruby or YAML is quoted so that it reads
back as exactly itself, whatever it holds.

Validation keeps hostile values out of specs, so these tests go around it: the quoting
functions meet arbitrary text directly, and specs built by hand (no validation) carry
hostile values through the real templates, read back by the real interpreters.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from labgen.render import quoting
from labgen.render.plan import plan_lab
from labgen.spec.model import Host, LabSpec, RegistrySettings, VagrantSettings
from labgen.spec.rules import VAGRANT_LOGIN_USER

# Any text a file can hold: NUL aside (no argument or file line can carry it), surrogates
# aside (not encodable).
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=30,
)
HOSTILE = [
    "'",
    '"',
    "\\",
    "$(touch /tmp/labgen-pwned)",
    "`id`",
    "#{`id`}",
    "a\nb",
    "{{ x }}",
    "x: y",
    "- [a]",
    "é中",
    "\\'; system('id'); '",
]


def _read_back_shell(values: list[str]) -> list[str]:
    words = " ".join(quoting.shell(v) for v in values)
    done = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {words}"], capture_output=True, check=True
    )
    return done.stdout.decode().split("\0")[:-1]


def _read_back_ruby(ruby: str, values: list[str]) -> list[str]:
    literals = ", ".join(quoting.ruby(v) for v in values)
    script = f'$stdout.binmode; print [{literals}].map {{ |v| v + "\\0" }}.join'
    done = subprocess.run([ruby, "-e", script], capture_output=True, check=True)
    return done.stdout.decode().split("\0")[:-1]


@settings(max_examples=150, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=8))
def test_shell_words_read_back_as_themselves(values: list[str]) -> None:
    assert _read_back_shell(values) == values


def test_hostile_shell_words_read_back_as_themselves() -> None:
    assert _read_back_shell(HOSTILE) == HOSTILE


def test_ruby_strings_read_back_as_themselves(require_tool: Callable[[str], str]) -> None:
    ruby = require_tool("ruby")

    @settings(max_examples=60, deadline=None)
    @given(st.lists(TEXT, min_size=1, max_size=8))
    def read_back(values: list[str]) -> None:
        assert _read_back_ruby(ruby, values) == values

    read_back()
    assert _read_back_ruby(ruby, HOSTILE) == HOSTILE


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_yaml_scalars_read_back_as_themselves(value: str) -> None:
    assert yaml.safe_load(f"key: {quoting.yaml_str(value)}\n") == {"key": value}


# ---------------------------------------------------------------- through the templates

EVIL = "x'\"\\$(touch /tmp/labgen-pwned)`id`#{1}\n- y: z"


def _hostile_spec() -> LabSpec:
    """A spec no validation would pass: hostile text in every field that reaches a file."""
    return LabSpec(
        name=f"lab{EVIL}",
        subnet="192.168.56.0/24",
        hosts=(
            Host(name=f"reg{EVIL}", ip=f"192.168.56.101{EVIL}", role="registry"),
            Host(name=f"cli{EVIL}", ip="192.168.56.102", role="client"),
        ),
        registry=RegistrySettings(port=5000, image=f"registry:2{EVIL}"),
        mirror=f"http://m{EVIL}",
        vagrant=VagrantSettings(box=f"box{EVIL}", libvirt_cpu_model=f"cpu{EVIL}"),
    )


def _file(spec: LabSpec, name: str) -> str:
    (content,) = [f.content for f in plan_lab(spec) if f.path.as_posix() == name]
    return content


# Evaluates a Vagrantfile with a stand-in for Vagrant that records every setting made.
RECORDER = r"""
require "json"
LOG = []
class Recorder
  def initialize(path)
    @path = path
  end

  def method_missing(name, *args, **options, &block)
    path = "#{@path}.#{name}"
    LOG << [path, args, options.transform_keys(&:to_s)] unless args.empty? && options.empty?
    block&.call(Recorder.new(path))
    Recorder.new(path)
  end

  def respond_to_missing?(*)
    true
  end
end
module Vagrant
  def self.configure(_version)
    yield Recorder.new("config")
  end
end
load ARGV[0]
print JSON.generate(LOG)
"""


def test_vagrantfile_carries_hostile_values_as_data(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    spec = _hostile_spec()
    vagrantfile = tmp_path / "Vagrantfile"
    vagrantfile.write_text(_file(spec, "Vagrantfile"), encoding="utf-8")
    recorder = tmp_path / "recorder.rb"
    recorder.write_text(RECORDER, encoding="utf-8")
    done = subprocess.run(
        [require_tool("ruby"), str(recorder), str(vagrantfile)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    log = json.loads(done.stdout)
    settings_made = {(path, json.dumps(args)) for path, args, _ in log}
    assert ("config.vm.box=", json.dumps([spec.vagrant.box])) in settings_made
    cpu_model = json.dumps([spec.vagrant.libvirt_cpu_model])
    assert ("config.vm.provider.cpu_model=", cpu_model) in settings_made
    defined = [args[0] for path, args, _ in log if path == "config.vm.define"]
    assert defined == [host.name for host in spec.hosts]
    networks = [opts for path, _, opts in log if path == "config.vm.define.vm.network"]
    assert [n["ip"] for n in networks] == [host.ip for host in spec.hosts]
    provisions = [opts for path, _, opts in log if path == "config.vm.define.vm.provision"]
    assert [p["args"] for p in provisions] == [
        ["provision", host.name, "--as", VAGRANT_LOGIN_USER, "--set-hostname"]
        for host in spec.hosts
    ]


def test_compose_file_carries_hostile_values_as_data() -> None:
    spec = _hostile_spec()
    compose = yaml.safe_load(_file(spec, "docker-compose.yml"))
    assert compose["name"] == spec.name
    assert list(compose["services"]) == [host.name for host in spec.hosts]
    for host in spec.hosts:
        service = compose["services"][host.name]
        assert service["hostname"] == host.name
        assert service["networks"]["lab"]["ipv4_address"] == host.ip


def test_provisioning_script_carries_hostile_values_as_data(tmp_path: Path) -> None:
    """The script's settings read back exactly, and its host dispatch matches each host
    name literally (a `case` pattern would otherwise glob)."""
    spec = _hostile_spec()
    script = tmp_path / "node.sh"
    content = _file(spec, "provision/node.sh")
    script.write_text(content, encoding="utf-8")
    subprocess.run(["bash", "-n", str(script)], check=True)
    settings_only = content[content.index("\nLAB=") : content.index("\nDAEMON_JSON=")]
    shown = subprocess.run(
        ["bash", "-c", settings_only + '\nprintf "%s\\0" "$LAB" "$MIRROR"'],
        capture_output=True,
        check=True,
    )
    assert shown.stdout.decode().split("\0")[:-1] == [spec.name, spec.mirror]
    # A name that is not the lab's is refused by the dispatch, whatever it looks like.
    refused = subprocess.run(
        ["bash", str(script), "provision", "reg*"], capture_output=True, text=True
    )
    assert refused.returncode != 0
    assert "unknown host 'reg*'" in refused.stderr


def test_host_entry_points_pass_the_host_name_as_one_word(tmp_path: Path) -> None:
    spec = _hostile_spec()
    (tmp_path / "node.sh").write_text('#!/bin/sh\nprintf "%s\\0" "$@"\n', encoding="utf-8")
    (tmp_path / "node.sh").chmod(0o755)
    for host in spec.hosts:
        entry = tmp_path / "entry.sh"
        entry.write_text(_file(spec, f"provision/{host.name}.sh"), encoding="utf-8")
        done = subprocess.run(["sh", str(entry)], capture_output=True, check=True)
        assert done.stdout.decode().split("\0")[:-1] == ["provision", host.name]
