//! The OpenAPI 3.0 description of the API (DESIGN.md sync rule 10), written by hand.

use serde_json::{json, Value};

use gridline_core::protocol::PROTOCOL_VERSION;
use gridline_core::EntityKind;

fn error_responses(codes: &[&str]) -> Value {
    let mut m = serde_json::Map::new();
    for c in codes {
        let desc = match *c {
            "400" => "Malformed JSON (`bad_json`) or request (`bad_request`)",
            "401" => "Missing, unknown, expired or revoked token; wrong password; disabled user (`unauthorized`)",
            "413" => "Body or batch too large (`too_large`)",
            "415" => "Unsupported Content-Type or Content-Encoding",
            "422" => "Unsupported protocol version (`unsupported_protocol`) or JSON not matching the schema (`invalid_body`)",
            "429" => "Too many failed logins for this username from this address (`too_many_attempts`)",
            _ => "Internal error (`internal`)",
        };
        m.insert(
            (*c).into(),
            json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}),
        );
    }
    Value::Object(m)
}

fn body(schema: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn ok(schema: &str) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn with_ok(schema: &str, errors: &[&str]) -> Value {
    let mut r = error_responses(errors);
    r["200"] = ok(schema);
    r
}

fn schemas() -> Value {
    let entities: Vec<&str> = EntityKind::ALL.iter().map(|k| k.as_str()).collect();
    let roles = ["grid_worker", "building_head", "supervisor", "department_handler", "admin"];
    json!({
        "ErrorBody": {"type": "object", "required": ["code", "message", "message_zh", "protocol"], "properties": {
            "code": {"type": "string", "example": "unauthorized"},
            "message": {"type": "string"},
            "message_zh": {"type": "string"},
            "protocol": {"type": "integer"}}},
        "Scope": {"type": "object", "properties": {
            "area_ids": {"type": "array", "items": {"type": "string"}},
            "building_ids": {"type": "array", "items": {"type": "string"}},
            "department_ids": {"type": "array", "items": {"type": "string"}}}},
        "Principal": {"type": "object", "required": ["user_id", "role", "scope"], "properties": {
            "user_id": {"type": "string"},
            "role": {"type": "string", "enum": roles},
            "scope": {"$ref": "#/components/schemas/Scope"}}},
        "EnrollRequest": {"type": "object", "additionalProperties": false,
            "required": ["protocol", "username", "password", "device_name"], "properties": {
            "protocol": {"type": "integer", "enum": [PROTOCOL_VERSION]},
            "username": {"type": "string"}, "password": {"type": "string", "format": "password"},
            "device_name": {"type": "string"},
            "device_id": {"type": "string", "description": "the id this device was enrolled under before; kept for the same user unless the device was revoked"}}},
        "EnrollResponse": {"type": "object", "required": ["device_id", "token", "principal"], "properties": {
            "device_id": {"type": "string"},
            "token": {"type": "string", "description": "Bearer token, shown once"},
            "principal": {"$ref": "#/components/schemas/Principal"},
            "scope_epoch": {"type": "integer"}}},
        "Fields": {"type": "object", "additionalProperties": true,
            "description": "Field name to value; names and types per entity as in the core's entity table"},
        "Op": {"type": "object", "additionalProperties": false, "required":
            ["op_id", "device_seq", "entity", "entity_id", "kind", "fields", "base_version", "device_time"], "properties": {
            "op_id": {"type": "string", "maxLength": 64},
            "device_seq": {"type": "integer"},
            "entity": {"type": "string", "enum": entities},
            "entity_id": {"type": "string", "maxLength": 64},
            "kind": {"type": "string", "enum": ["create", "update", "delete", "event"]},
            "fields": {"$ref": "#/components/schemas/Fields"},
            "base_version": {"type": "integer"},
            "device_time": {"type": "integer", "description": "ms since the epoch"}}},
        "PushRequest": {"type": "object", "additionalProperties": false, "required": ["protocol", "ops", "sent_at"], "properties": {
            "protocol": {"type": "integer", "enum": [PROTOCOL_VERSION]},
            "ops": {"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/Op"}},
            "sent_at": {"type": "integer"},
            "scope_epoch": {"type": "integer", "nullable": true,
                "description": "Scope epoch the device held when it wrote the ops; ops its user's replaced scope allowed are accepted within the grace period"}}},
        "OpResult": {"type": "object", "required": ["op_id", "status"], "properties": {
            "op_id": {"type": "string"},
            "status": {"type": "string", "enum": ["applied", "duplicate", "merged", "rejected"]},
            "version": {"type": "integer"},
            "code": {"type": "string", "description":
                "out_of_scope, role_not_allowed, field_protected, invalid, not_found, already_exists, transition_refused"},
            "reason": {"type": "string", "description": "Simplified Chinese"},
            "conflicts": {"type": "array", "items": {"type": "string"}},
            "current": {"$ref": "#/components/schemas/Change", "description":
                "With a rejection: the server's copy of the record the op was about (an event op: its incident) as the user would pull it, or a tombstone; absent when there is none or the user may not read it"}}},
        "PushResponse": {"type": "object", "required": ["results", "server_time"], "properties": {
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/OpResult"}},
            "server_time": {"type": "integer"},
            "clock_skew_flagged": {"type": "boolean"}}},
        "PullRequest": {"type": "object", "additionalProperties": false, "required": ["protocol", "cursor", "limit"], "properties": {
            "protocol": {"type": "integer", "enum": [PROTOCOL_VERSION]},
            "cursor": {"type": "integer"},
            "limit": {"type": "integer", "maximum": 1000},
            "scope_epoch": {"type": "integer", "nullable": true}}},
        "AttachmentStatus": {"type": "object", "required": ["sha256", "received", "total", "complete"], "properties": {
            "sha256": {"type": "string"}, "received": {"type": "integer"}, "total": {"type": "integer"},
            "complete": {"type": "boolean"}}},
        "Change": {"type": "object", "required": ["seq", "entity", "id"], "properties": {
            "seq": {"type": "integer"},
            "entity": {"type": "string", "enum": entities},
            "id": {"type": "string"},
            "deleted": {"type": "boolean"},
            "version": {"type": "integer", "description": "The row's version when it differs from seq (a row re-sent to new readers)"},
            "fields": {"$ref": "#/components/schemas/Fields"}}},
        "PullResponse": {"type": "object", "required": ["changes", "next_cursor", "has_more", "scope_epoch", "principal"], "properties": {
            "changes": {"type": "array", "items": {"$ref": "#/components/schemas/Change"}},
            "next_cursor": {"type": "integer", "description": "Cursor to send next: the last sequence examined; on the last page (has_more false) the server's sequence when the page was read"},
            "has_more": {"type": "boolean"},
            "scope_epoch": {"type": "integer"},
            "scope_changed": {"type": "boolean"},
            "rebootstrap": {"type": "boolean"},
            "principal": {"$ref": "#/components/schemas/Principal"}}}
    })
}

/// The OpenAPI document.
pub fn document() -> Value {
    let version_header = json!({"name": "x-gridline-protocol", "in": "header", "required": false,
        "schema": {"type": "integer", "enum": [PROTOCOL_VERSION]}});
    let sha_param = json!({"name": "sha256", "in": "path", "required": true,
        "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Gridline sync API",
            "version": format!("{PROTOCOL_VERSION}"),
            "description": "Offline-first sync of grid governance data. Request bodies may be sent with \
                Content-Encoding zstd or gzip; responses are compressed when Accept-Encoding offers zstd or gzip."
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                "description": "Device token from /v1/enroll (stored by the server only as a SHA-256 hash)"}},
            "schemas": schemas()
        },
        "paths": {
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok",
                "content": {"text/plain": {"schema": {"type": "string", "example": "ok"}}}},
                "503": {"description": "The storage failed to sync to disk and answers nothing more: restart the server"}}}},
            "/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI document"}}}},
            "/v1/enroll": {"post": {"summary": "Log a user in on a device and get its token",
                "parameters": [version_header.clone()],
                "description": "Five failed attempts for one username from one address within 15 minutes refuse further ones from there (429) until the window has passed.",
                "requestBody": body("EnrollRequest"),
                "responses": with_ok("EnrollResponse", &["400", "401", "413", "415", "422", "429", "500"])}},
            "/v1/push": {"post": {"summary": "Push a batch of ops; one result per op",
                "description": "The envelope is decoded strictly (a body that is not a push request is a 4xx); each op on its own: a malformed op (unknown field, wrong type, unknown entity) gets the result `rejected` with code `invalid` and does not stop the others.",
                "security": [{"bearer": []}], "parameters": [version_header.clone()],
                "requestBody": body("PushRequest"),
                "responses": with_ok("PushResponse", &["400", "401", "413", "415", "422", "500"])}},
            "/v1/pull": {"post": {"summary": "Pull one page of the caller's scoped change feed",
                "security": [{"bearer": []}], "parameters": [version_header],
                "requestBody": body("PullRequest"),
                "responses": with_ok("PullResponse", &["400", "401", "413", "415", "422", "500"])}},
            "/v1/attachments/{sha256}": {
                "parameters": [sha_param.clone()],
                "put": {"summary": "Upload one chunk of a photo; a chunk not starting where the server's copy ends changes nothing",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {"name": "offset", "in": "query", "required": true, "schema": {"type": "integer", "minimum": 0}},
                        {"name": "total", "in": "query", "required": true, "schema": {"type": "integer", "minimum": 1, "maximum": 10485760}}],
                    "requestBody": {"required": true, "content": {
                        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                        "image/png": {"schema": {"type": "string", "format": "binary"}},
                        "image/webp": {"schema": {"type": "string", "format": "binary"}}}},
                    "responses": with_ok("AttachmentStatus", &["400", "401", "413", "415", "422", "500"])},
                "get": {"summary": "Download a whole photo through a record that refers to it and the caller may read; \
                        without a record, only the device that uploaded it gets it back",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {"name": "entity", "in": "query", "required": false, "schema": {"type": "string", "enum": ["incident", "task_assignment"]}},
                        {"name": "id", "in": "query", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": 64}}],
                    "responses": {"200": {"description": "the photo", "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}},
                        "400": {"description": "malformed query"},
                        "401": {"description": "missing, expired or revoked token"},
                        "403": {"description": "the record is out of the caller's scope, or no record named for a photo this device did not upload"},
                        "404": {"description": "no such record, the record does not refer to the photo, or not uploaded (whole) yet"},
                        "422": {"description": "a bad hash, entity or id"}}}},
            "/v1/attachments/{sha256}/status": {"get": {"summary": "How much of a photo the server holds",
                "security": [{"bearer": []}], "parameters": [sha_param],
                "responses": with_ok("AttachmentStatus", &["401", "422", "500"])}}
        }
    })
}
