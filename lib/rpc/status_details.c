/* status_details.c - google.rpc.Status with an optional google.rpc.BadRequest in details,
 * built on the stack and packed once into a malloc'd buffer owned by the caller. */
#include "rpc/status_details.h"

#include <stdlib.h>

#include "google/protobuf/any.pb-c.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

#define MAX_V 32

unsigned char *td_rpc_status_details_pack(int code, const char *message, const td_rpc_violation *v,
                                          size_t nv, size_t *len)
{
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    Google__Rpc__BadRequest br = GOOGLE__RPC__BAD_REQUEST__INIT;
    Google__Rpc__BadRequest__FieldViolation fv[MAX_V];
    Google__Rpc__BadRequest__FieldViolation *fvp[MAX_V];
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    Google__Protobuf__Any *anyp = &any;
    unsigned char *brbuf = NULL, *out = NULL;

    st.code = code;
    st.message = (char *)(message ? message : "");
    if (nv > MAX_V)
        nv = MAX_V;
    if (nv > 0) {
        for (size_t i = 0; i < nv; i++) {
            google__rpc__bad_request__field_violation__init(&fv[i]);
            fv[i].field = (char *)v[i].field;
            fv[i].description = (char *)v[i].description;
            fvp[i] = &fv[i];
        }
        br.n_field_violations = nv;
        br.field_violations = fvp;
        size_t blen = google__rpc__bad_request__get_packed_size(&br);
        brbuf = malloc(blen ? blen : 1);
        if (brbuf == NULL)
            goto out;
        google__rpc__bad_request__pack(&br, brbuf);
        any.type_url = "type.googleapis.com/google.rpc.BadRequest";
        any.value.data = brbuf;
        any.value.len = blen;
        st.n_details = 1;
        st.details = &anyp;
    }
    *len = google__rpc__status__get_packed_size(&st);
    out = malloc(*len ? *len : 1);
    if (out == NULL)
        goto out;
    google__rpc__status__pack(&st, out);
out:
    free(brbuf);
    return out;
}
