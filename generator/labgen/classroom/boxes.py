"""Which box a hosted student's lab runs in: the only place that knows the kinds of box.

A box is a container on this Docker engine (`backends.labbox.LabBox`), or with
`hosted.platform: kubernetes` a pod on the teacher's cluster (`backends.pod.PodBox`);
VMs (`hosted.isolation: vm`) plug in here.
"""

from __future__ import annotations

from collections.abc import Callable

from labgen.backends.box import Box, BoxSpec, Limits, Runtime
from labgen.backends.labbox import LabBox, labelled_students
from labgen.backends.vmbox import VmBox, vm_students
from labgen.classroom.kubernetes import ClassOnCluster, on_kubernetes
from labgen.classroom.model import CLASS_FILE, Class, Seat
from labgen.classroom.spec import HostedSettings
from labgen.errors import UsageError

# A seat's box, as the class commands get it (box_for bound to a class; tests script it).
BoxFor = Callable[[Seat], Box]


def box_spec(cls: Class, seat: Seat, runtime: Runtime | None = None) -> BoxSpec:
    hosted = cls.hosted
    return BoxSpec(
        class_name=cls.name,
        student=seat.student,
        ssh_port=seat.ssh_port,
        account=f"{seat.student}:{seat.password}\n",
        lab=cls.lab_folder,
        limits=Limits(cpus=hosted.cpus, memory=hosted.memory, pids=hosted.pids),
        runtime=runtime,
    )


def require_hosted(cls: Class) -> None:
    if cls.delivery != "hosted":
        raise UsageError(
            f"{cls.folder / CLASS_FILE}: {cls.name} is a byod class (its labs run on the "
            "students' machines); set `delivery: hosted` in its spec for lab boxes"
        )


# In a class folder: each VM-isolated student's overlay, config disk, key and QEMU PID.
VMS_DIR = "vms"


def box_for(cls: Class, seat: Seat, runtime: Runtime | None = None) -> Box:
    """The box of `seat` in the hosted class `cls`: a VM (isolation: vm) or a container."""
    require_hosted(cls)
    if on_kubernetes(cls):  # isolation there is the pod's RuntimeClass, the cluster's work
        return ClassOnCluster(cls).box(box_spec(cls, seat))
    if cls.hosted.isolation == "vm":
        return VmBox(box_spec(cls, seat), cls.folder / VMS_DIR)
    return LabBox(box_spec(cls, seat, runtime))


def leftover_seats(cls: Class) -> list[Seat]:
    """Students no longer on the roster whose box (or its volume or network) still exists:
    `class up` and `class down` remove them, so their password opens nothing."""
    on_roster = {seat.student for seat in cls.seats}
    if on_kubernetes(cls):
        found = ClassOnCluster(cls).students()
    elif cls.hosted.isolation == "vm":
        found = vm_students(cls.folder / VMS_DIR)
    else:
        found = labelled_students(cls.name)
    gone = sorted(found - on_roster)
    return [Seat(cls.name, student, 0, "") for student in gone]


def container_warning(delivery: str, hosted: HostedSettings) -> str | None:
    """What `container` isolation means for a class, in one line (said by `class create`
    and `class up`); None for a class whose students get VMs or bring their own machine."""
    if delivery != "hosted" or hosted.isolation != "container":
        return None
    if hosted.platform == "kubernetes":
        return (
            "isolation: container: each lab box is a privileged pod, so a student can become "
            "root on the cluster node it runs on (isolation: vm with a RuntimeClass such as "
            "kata gives each a VM)"
        )
    return (
        "isolation: container: each lab box is a privileged container, so a student can become "
        "root on this server (hosted.isolation: vm gives each student a VM instead)"
    )
