/* validate.h - generic checks every request passes before its handler runs: all string
 * fields (at any depth, repeated or not, map keys and values) are valid UTF-8, and every
 * enum field holds a value its enum declares. Pure; thread-safe. */
#ifndef TD_RPC_VALIDATE_H
#define TD_RPC_VALIDATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "core/status.h"
#include "core/utf8.h" /* td_utf8_valid */

/* Scans the encoded request before it is unpacked: every string field (at any depth)
 * must be valid UTF-8 without NUL bytes. protobuf-c would silently cut a string at its
 * first NUL, so this is the only place that can see one. TD_OK, or TD_EINVAL with the
 * field path and reason. Malformed framing is left for the unpacker to report. */
td_status td_rpc_validate_wire(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                               char *field, size_t field_cap, char *why, size_t why_cap);

/* TD_OK, or TD_EINVAL with the field path ("task.tags[2]") and the reason. */
td_status td_rpc_validate_message(const ProtobufCMessage *msg, char *field, size_t field_cap,
                                  char *why, size_t why_cap);

#endif
