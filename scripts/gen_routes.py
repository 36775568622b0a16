"""Emit the gateway's traits table (gateway/traits.h) and route table (gateway/router.h) from the
google.api.http annotations of WorkflowService and OperatorService.

Usage: gen_routes.py TEMPORAL.fds PERMISSIONS.tsv TRAITS.tsv > routes.c
Every RPC of the two services gets its traits: its method descriptor, its row of
gateway/permissions.tsv and what gateway/traits.tsv says of it. Every HTTP binding Temporal
declares (the plain and the /api/v1 one) becomes a route, so the gateway serves exactly the paths
of Temporal's own HTTP API for the pinned API version; the routes of Portico's own in traits.tsv
follow. A method of the pinned API without a permissions row, a row or trait for a method the API
does not have, or a trait that does not fit its request message stops the build.
"""

import re
import sys

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

SERVICES = ("temporal.api.workflowservice.v1.WorkflowService", "temporal.api.operatorservice.v1.OperatorService")


def c_name(full_name):
    """protoc-c's name for a service's descriptor: temporal.api.x.v1.FooService ->
    temporal__api__x__v1__foo_service__descriptor."""
    package, _, name = full_name.rpartition(".")
    snake = re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
    return "__".join(package.split(".")) + f"__{snake}__descriptor"


def services(file_set):
    """(full name, service descriptor proto) for each service the gateway serves."""
    for proto in file_set.file:
        for service in proto.service:
            if f"{proto.package}.{service.name}" in SERVICES:
                yield f"{proto.package}.{service.name}", service


def http_bindings(file_set):
    """(method descriptor, verb, path, has body, service full name) for each HTTP binding."""
    for service_name, service in services(file_set):
        for method in service.method:
            rule = method.options.Extensions[annotations_pb2.http]
            for binding in (rule, *rule.additional_bindings):
                verb = binding.WhichOneof("pattern")
                if verb in (None, "custom"):
                    continue
                if binding.body not in ("", "*"):
                    raise SystemExit(f"{method.name}: body {binding.body!r} is not supported")
                yield method, verb, getattr(binding, verb), binding.body == "*", service_name


PERMISSIONS = ("read", "start", "signal", "update", "cancel", "activities", "admin", "cluster")
EFFECTS = ("start", "multi_operation", "batch", "schedule", "reset", "list_namespaces")


def service_methods(file_set):
    return [method.name for _, service in services(file_set) for method in service.method]


def table_rows(path):
    """(where, fields) for each line of a table that is not blank or a comment."""
    with open(path) as table:
        for number, line in enumerate(table, 1):
            if line.strip() and not line.startswith("#"):
                yield f"{path}:{number}", line.split()


def read_permissions(path, methods):
    """{method: (C permission mask, cluster scope, C effect)} from the table, checked against methods."""
    rows = {}
    for where, fields in table_rows(path):
        if len(fields) != 4:
            raise SystemExit(f"{where}: expected: method, permissions, scope, effect")
        method, permissions, scope, effect = fields
        unknown = [p for p in permissions.split(",") if p not in PERMISSIONS]
        if unknown or scope not in ("namespace", "cluster") or (effect != "-" and effect not in EFFECTS):
            raise SystemExit(f"{where}: bad permissions, scope or effect")
        if method in rows:
            raise SystemExit(f"{where}: {method} is listed twice")
        mask = " | ".join(f"PERMISSION_{p.upper()}" for p in permissions.split(","))
        rows[method] = (mask, int(scope == "cluster"), "EFFECT_NONE" if effect == "-" else f"EFFECT_{effect.upper()}")
    missing = [m for m in methods if m not in rows]
    extra = [m for m in rows if m not in methods]
    if missing or extra:
        raise SystemExit(f"{path}: classify every method of the pinned API's services: "
                         f"missing {missing or 'none'}, not in the API {extra or 'none'}")
    return rows


TRAITS = ("long_poll", "wait", "role", "shorthand", "trace_header", "idempotency", "route")
LONG_POLLS = {"always": "LONG_POLL_ALWAYS", "wait_new_event": "LONG_POLL_WAIT_NEW_EVENT"}
ROLES = {"start": "ROLE_START", "update": "ROLE_UPDATE"}


def message_types(file_set):
    """{full message name: DescriptorProto}, nested messages included."""
    found = {}

    def add(prefix, messages):
        for message in messages:
            name = f"{prefix}.{message.name}"
            found[name] = message
            add(name, message.nested_type)

    for proto in file_set.file:
        add(f".{proto.package}", proto.message_type)
    return found


def field_path_ok(types, message_name, path):
    """Whether the dotted proto field path names a field of the message (through message fields;
    a map's key ends the path: header.fields._tracer-data)."""
    message = types[message_name]
    for segment in path.split("."):
        field = next((f for f in message.field if f.name == segment), None)
        if field is None:
            return False
        if field.type_name not in types:
            return True
        message = types[field.type_name]
        if message.options.map_entry:
            return True
    return True


def read_traits(path, methods, types):
    """({method: {trait: values}}, [(verb, pattern, handler, permission mask)]) from the overlay."""
    traits, handlers = {}, []
    for where, fields in table_rows(path):
        if len(fields) < 3 or fields[1] not in TRAITS:
            raise SystemExit(f"{where}: expected: method, one of {', '.join(TRAITS)}, value")
        name, trait, values = fields[0], fields[1], fields[2:]
        if name.startswith("@"):
            if (trait != "route" or len(values) not in (3, 4) or any(p not in PERMISSIONS for p in values[2].split(","))
                    or (len(values) == 4 and values[3] not in methods)):
                raise SystemExit(f"{where}: a handler of Portico's own takes: route VERB /PATH PERMISSIONS [RPC]")
            mask = " | ".join(f"PERMISSION_{p.upper()}" for p in values[2].split(","))
            module, _, verb = name[1:].partition(".")
            serve = f"{module}_{verb}_serve" if verb else f"{module}_serve"
            handlers.append((values[0], values[1], module, serve, mask, values[3] if len(values) == 4 else None))
            continue
        if name not in methods:
            raise SystemExit(f"{where}: {name} is not a method of the pinned API's services")
        method, value = methods[name], values[0]
        bad = ((trait == "long_poll" and value not in LONG_POLLS) or (trait == "role" and value not in ROLES)
               or (trait == "wait" and value != "yes") or (trait == "route" and len(values) != 2)
               or (trait != "route" and len(values) != 1)
               or (trait == "shorthand" and not field_path_ok(types, method.input_type, value.partition("=")[2]))
               or (trait in ("trace_header", "idempotency") and not field_path_ok(types, method.input_type, value)))
        if bad:
            raise SystemExit(f"{where}: {trait} {' '.join(values)} does not fit {name}")
        traits.setdefault(name, {}).setdefault(trait, []).append(values)
    return traits, handlers


def c_string(text):
    return "NULL" if text is None else f'"{text}"'


def main():
    file_set = descriptor_pb2.FileDescriptorSet()
    with open(sys.argv[1], "rb") as fds:
        file_set.ParseFromString(fds.read())
    types = message_types(file_set)
    permissions = read_permissions(sys.argv[2], service_methods(file_set))
    methods = {method.name: method for _, service in services(file_set) for method in service.method}
    overlay, handlers = read_traits(sys.argv[3], methods, types)

    print("/* Generated by scripts/gen_routes.py from the Temporal API, gateway/permissions.tsv and")
    print(" * gateway/traits.tsv; do not edit. */")
    print('#include "proxy.h"')
    for module in sorted({handler[2] for handler in handlers}):
        print(f'#include "{module}.h"')
    print('#include "router.h"')
    print('#include "temporal/api/operatorservice/v1/service.pb-c.h"')
    print('#include "temporal/api/workflowservice/v1/service.pb-c.h"')
    served = {method.name for method, *_ in http_bindings(file_set)}
    unserved = [name for name in overlay if name not in served]
    unserved += [rpc for *_, rpc in handlers if rpc and rpc not in served]
    if unserved:
        raise SystemExit(f"{sys.argv[3]}: {', '.join(unserved)}: no HTTP route of the pinned API serves it")
    for service_name, service in services(file_set):
        for number, method in enumerate(service.method):
            if method.name not in served:
                continue
            own = overlay.get(method.name, {})
            shorthand = own.get("shorthand", [])
            if shorthand:
                items = ", ".join(f'{{"{k}", "{v}"}}' for k, _, v in (s[0].partition("=") for s in shorthand))
                print(f"static const traits_shorthand shorthand_{method.name}[] = {{{items}}};")
            idempotency = own.get("idempotency", [[None]])[0][0]
            if idempotency is None and any(f.name == "request_id" for f in types[method.input_type].field):
                idempotency = "request_id"
            mask, _, effect = permissions[method.name]
            print(f"static const rpc_traits traits_{method.name} = {{")
            print(f'\t"{method.name}", &{c_name(service_name)}, {number},')
            print(f"\t{mask}, {effect},")
            print(f"\t{LONG_POLLS.get(own.get('long_poll', [[None]])[0][0], 'LONG_POLL_NEVER')},"
                  f" {int('wait' in own)}, {ROLES.get(own.get('role', [[None]])[0][0], 'ROLE_PLAIN')},")
            print(f"\t{'shorthand_' + method.name if shorthand else 'NULL'}, {len(shorthand)},")
            print(f"\t{c_string(own.get('trace_header', [[None]])[0][0])}, {c_string(idempotency)},")
            print("};")

    routes = []
    for method, verb, pattern, body, service in http_bindings(file_set):
        _, cluster, _ = permissions[method.name]
        if not cluster and "{namespace}" not in pattern:
            raise SystemExit(f"{method.name}: {pattern} names no namespace, but the table scopes it to one")
        routes.append((verb.upper(), pattern, body, permissions[method.name][0], f"&traits_{method.name}",
                       "proxy_serve"))
    if not routes:
        raise SystemExit("no HTTP annotations found: is the descriptor set complete?")
    # Portico's own routes follow Temporal's, each with its /api/v1 twin as Temporal's have.
    own_routes = [(verb, pattern, name, overlay[name]["route"]) for name in overlay if "route" in overlay[name]
                  for verb, pattern in overlay[name]["route"]]
    for verb, pattern, name, _ in own_routes:
        for prefix in ("", "/api/v1"):
            routes.append((verb, prefix + pattern, True, permissions[name][0], f"&traits_{name}", "proxy_serve"))
    for verb, pattern, _, serve, mask, rpc in handlers:
        for prefix in ("", "/api/v1"):
            routes.append((verb, prefix + pattern, False, mask, f"&traits_{rpc}" if rpc else "NULL", serve))
    shapes = {}
    for verb, pattern, *_ in routes:
        shape = (verb, re.sub(r"\{[^}]*\}", "{}", pattern))
        if shape in shapes:
            raise SystemExit(f"{verb} {pattern} and {shapes[shape]} match the same paths")
        shapes[shape] = pattern
    print("const gateway_route gateway_routes[] = {")
    for verb, pattern, body, mask, traits, serve in routes:
        print(f'\t{{"{verb}", "{pattern}", {int(body)}, {mask}, {traits}, {serve}, {pattern.count("/")}}},')
    print("};")
    print(f"const size_t gateway_route_count = {len(routes)};")


if __name__ == "__main__":
    main()
