"""Build the OpenAPI document the gateway serves: openapi/portico.yaml (written by hand: Portico's
own routes, the common Temporal operations with examples, shared components) completed from the
pinned Temporal API: every other route of Temporal's HTTP API gets an operation from its
google.api.http annotation, and every message a route takes or returns gets a JSON Schema from
its descriptor, in the proto3 JSON form the gateway reads and writes.

Usage: gen_openapi.py openapi/portico.yaml TEMPORAL.fds OUT_DIR
Writes OUT_DIR/openapi.json and OUT_DIR/openapi.yaml (the build embeds both, scripts/embed.py).
"""

import copy
import json
import re
import sys
from pathlib import Path

import yaml
from google.protobuf import descriptor_pb2

from gen_routes import http_bindings

PREFIX = "/api/v1"
FieldType = descriptor_pb2.FieldDescriptorProto

INT64 = {FieldType.TYPE_INT64, FieldType.TYPE_UINT64, FieldType.TYPE_SINT64, FieldType.TYPE_FIXED64,
         FieldType.TYPE_SFIXED64}
INT32 = {FieldType.TYPE_INT32, FieldType.TYPE_UINT32, FieldType.TYPE_SINT32, FieldType.TYPE_FIXED32,
         FieldType.TYPE_SFIXED32}

# Messages whose proto3 JSON form is not an object of their fields.
WELL_KNOWN = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$", "examples": ["30s"]},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Any": {"type": "object", "properties": {"@type": {"type": "string"}}},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string", "contentEncoding": "base64"},
    "google.protobuf.DoubleValue": {"type": "number"},
    "google.protobuf.FloatValue": {"type": "number"},
    "google.protobuf.Int32Value": {"type": "integer"},
    "google.protobuf.UInt32Value": {"type": "integer"},
    "google.protobuf.Int64Value": {"type": ["string", "integer"]},
    "google.protobuf.UInt64Value": {"type": ["string", "integer"]},
    # Payload shorthand: any JSON value is a payload, an array of them a Payloads.
    "temporal.api.common.v1.Payload": {"$ref": "#/components/schemas/Payload"},
    "temporal.api.common.v1.Payloads": {"$ref": "#/components/schemas/Payloads"},
}


def camel(name):
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


class Schemas:
    """JSON Schemas of messages, by full name, added as routes need them."""

    def __init__(self, file_set):
        self.messages, self.enums = {}, {}
        for proto in file_set.file:
            self._collect(proto.package, proto.message_type, proto.enum_type)
        self.schemas = {}

    def _collect(self, scope, messages, enums):
        for enum in enums:
            self.enums[f"{scope}.{enum.name}"] = enum
        for message in messages:
            name = f"{scope}.{message.name}"
            self.messages[name] = message
            self._collect(name, message.nested_type, message.enum_type)

    def ref(self, full_name):
        if full_name in WELL_KNOWN:
            return copy.deepcopy(WELL_KNOWN[full_name])
        if full_name not in self.schemas:
            self.schemas[full_name] = None  # placeholder while recursing
            self.schemas[full_name] = self._message(self.messages[full_name])
        return {"$ref": f"#/components/schemas/{full_name}"}

    def _message(self, message):
        properties = {}
        for field in message.field:
            schema = self._field(field)
            properties[field.json_name or camel(field.name)] = schema
        return {"type": "object", "properties": properties}

    def _map_entry(self, field):
        entry = self.messages[field.type_name.lstrip(".")]
        return entry if entry.options.map_entry else None

    def _field(self, field):
        if field.label == FieldType.LABEL_REPEATED:
            entry = self._map_entry(field) if field.type == FieldType.TYPE_MESSAGE else None
            if entry:
                return {"type": "object", "additionalProperties": self._single(entry.field[1])}
            return {"type": "array", "items": self._single(field)}
        return self._single(field)

    def _single(self, field):
        kind = field.type
        if kind == FieldType.TYPE_MESSAGE:
            return self.ref(field.type_name.lstrip("."))
        if kind == FieldType.TYPE_ENUM:
            enum = self.enums[field.type_name.lstrip(".")]
            return {"anyOf": [{"type": "string", "enum": [value.name for value in enum.value]}, {"type": "integer"}]}
        if kind in INT64:
            return {"type": ["string", "integer"], "pattern": "^-?[0-9]+$"}
        if kind in INT32:
            return {"type": "integer"}
        if kind in (FieldType.TYPE_DOUBLE, FieldType.TYPE_FLOAT):
            return {"type": "number"}
        if kind == FieldType.TYPE_BOOL:
            return {"type": "boolean"}
        if kind == FieldType.TYPE_BYTES:
            return {"type": "string", "contentEncoding": "base64"}
        return {"type": "string"}


def routes(file_set):
    """(verb, path, method descriptor, has body, operationId, service) for each binding of the served services,
    except the plain twins of /api/v1 bindings, which the document names once (its description
    says every /api/v1 route is served without the prefix too)."""
    bindings = list(http_bindings(file_set))
    prefixed = {(method.name, verb, path) for method, verb, path, _, _ in bindings if path.startswith(PREFIX)}
    for method, verb, path, has_body, service in bindings:
        service = service.rsplit(".", 1)[1]
        if path.startswith(PREFIX):
            yield verb, path, method, has_body, method.name, service
        elif (method.name, verb, PREFIX + path) not in prefixed:
            yield verb, path, method, has_body, f"{method.name}Plain", service


def param_name(field_path):
    """A path parameter's name in the document: the last part of the field path it fills
    ("execution.workflow_id" -> "workflow_id"), so that the same position has one name in every
    path, as OpenAPI requires, and no name has a dot that tools would take for an attribute."""
    parts = field_path.split(".")
    if parts[-1] == "name" and len(parts) > 1:
        return f"{parts[-2]}_name"
    return parts[-1]


def normalize_path(path):
    return re.sub(r"{([^}]+)}", lambda m: "{" + param_name(m.group(1)) + "}", path)


def normalize_parameters(operation):
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path":
            if "." in parameter["name"]:
                parameter.setdefault("description", f"the request's `{parameter['name']}`")
            parameter["name"] = param_name(parameter["name"])
    return operation


def words(name):
    return re.sub(r"(?<!^)([A-Z])", r" \1", name).lower()


# Examples for path parameters, so that every generated operation has a request one can run.
PATH_EXAMPLES = {"namespace": "default", "workflow_id": "order-42", "signal_name": "approve",
                 "query_type": "state", "input_name": "set_stage", "schedule_id": "nightly", "job_id": "batch-1"}


def generated_operation(verb, path, method, has_body, operation_id, service, schemas):
    parameters = [{"name": param_name(name), "in": "path", "required": True, "schema": {"type": "string"},
                   "example": PATH_EXAMPLES.get(param_name(name), "example"),
                   "description": f"the request's `{name}` field"}
                  for name in re.findall(r"{([^}]+)}", path)]
    operation = {
        "operationId": operation_id,
        "tags": ["Temporal (generated)"],
        "summary": f"{words(method.name).capitalize()} ({service}.{method.name})",
        "description": f"Temporal's `{method.name}`: the body (or, for GET, the query string) is its request in "
                       "proto3 JSON, camelCase or snake_case; the path fills the fields it names.",
        "parameters": parameters + [{"$ref": "#/components/parameters/RequestId"}],
        "responses": {
            "200": {"description": f"`{method.output_type.lstrip('.').rsplit('.', 1)[1]}`",
                    "content": {"application/json": {"schema": schemas.ref(method.output_type.lstrip("."))}}},
            **{status: {"$ref": "#/components/responses/Error"}
               for status in ("400", "401", "403", "404", "429", "503")},
            "501": {"$ref": "#/components/responses/NotImplemented"},
            "504": {"$ref": "#/components/responses/GatewayTimeout"},
            "default": {"$ref": "#/components/responses/Error"},
        },
    }
    if has_body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": schemas.ref(method.input_type.lstrip(".")), "example": {}}}}
        operation["responses"]["413"] = {"$ref": "#/components/responses/Error"}
    return operation


def resolve_messages(node, schemas):
    """Replaces {"x-temporal-message": "full.Name"} in the hand-written part with references."""
    if isinstance(node, dict):
        if set(node) == {"x-temporal-message"}:
            return schemas.ref(node["x-temporal-message"])
        return {key: resolve_messages(value, schemas) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve_messages(value, schemas) for value in node]
    return node


def main():
    overlay_path, fds_path, out_dir = sys.argv[1:4]
    spec = yaml.safe_load(Path(overlay_path).read_text())
    file_set = descriptor_pb2.FileDescriptorSet()
    file_set.ParseFromString(Path(fds_path).read_bytes())
    schemas = Schemas(file_set)
    spec = resolve_messages(spec, schemas)
    paths = {}
    for path, item in spec.get("paths", {}).items():
        for verb, operation in item.items():
            paths.setdefault(normalize_path(path), {})[verb] = normalize_parameters(operation)
    spec["paths"] = paths
    for verb, path, method, has_body, operation_id, service in routes(file_set):
        if verb not in paths.get(normalize_path(path), {}):
            paths.setdefault(normalize_path(path), {})[verb] = generated_operation(verb, path, method, has_body,
                                                                                   operation_id, service, schemas)
    schemas.ref("google.rpc.Status")
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    components.update(schemas.schemas)
    out = Path(out_dir)
    text = json.dumps(spec, indent=1, sort_keys=False)
    (out / "openapi.json").write_text(text + "\n")
    as_yaml = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=120)
    (out / "openapi.yaml").write_text(as_yaml)


if __name__ == "__main__":
    main()
