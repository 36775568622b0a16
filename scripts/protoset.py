"""Write the FileDescriptorSet of Temporal's WorkflowService and OperatorService APIs.

The descriptors come from the pinned PyPI packages (temporalio, googleapis-common-protos),
so the C code generated from them matches a published Temporal API version exactly.
Usage: protoset.py OUT.fds  (prints the .proto file names, one per line, on stdout)
"""

import sys

from google.protobuf import descriptor_pb2

import google.rpc.status_pb2
import temporalio.api.errordetails.v1.message_pb2
import temporalio.api.operatorservice.v1.service_pb2
import temporalio.api.workflowservice.v1.service_pb2

ROOTS = (
    temporalio.api.workflowservice.v1.service_pb2.DESCRIPTOR,
    temporalio.api.operatorservice.v1.service_pb2.DESCRIPTOR,
    temporalio.api.errordetails.v1.message_pb2.DESCRIPTOR,
    google.rpc.status_pb2.DESCRIPTOR,
)


def collect(file_descriptor, ordered, seen):
    """Depth-first, dependencies before dependents, as protoc expects."""
    if file_descriptor.name in seen:
        return
    seen.add(file_descriptor.name)
    for dependency in file_descriptor.dependencies:
        collect(dependency, ordered, seen)
    ordered.append(file_descriptor)


def main():
    ordered, seen = [], set()
    for root in ROOTS:
        collect(root, ordered, seen)
    file_set = descriptor_pb2.FileDescriptorSet()
    for file_descriptor in ordered:
        file_descriptor.CopyToProto(file_set.file.add())
    with open(sys.argv[1], "wb") as out:
        out.write(file_set.SerializeToString())
    for file_descriptor in ordered:
        print(file_descriptor.name)


if __name__ == "__main__":
    main()
