/* api.c - todo.v1 method tables. Owns the table and its path strings. */
#include "api.h"

#include <stdlib.h>

#include "core/log.h"
#include "rpc/service.h"
#include "tag_service.h"
#include "task_read.h"
#include "task_service.h"
#include "todo/v1/activity.pb-c.h"
#include "todo/v1/reminder.pb-c.h"
#include "todo/v1/tag.pb-c.h"
#include "todo/v1/task.pb-c.h"

#define MAX_METHODS 64

static const ProtobufCServiceDescriptor *const services[] = {
    &todo__v1__task_service__descriptor,
    &todo__v1__tag_service__descriptor,
    &todo__v1__reminder_service__descriptor,
    &todo__v1__activity_service__descriptor,
};
#define NSERVICES (sizeof(services) / sizeof(services[0]))

static const char *const service_names[] = {
    "todo.v1.TaskService",
    "todo.v1.TagService",
    "todo.v1.ReminderService",
    "todo.v1.ActivityService",
};

static const char *const streaming[] = {"WatchTasks", "WatchNotifications", NULL};

struct td_api {
    td_rpc_method methods[MAX_METHODS];
    size_t n;
    char *paths[NSERVICES];
};

td_api *td_api_new(td_store *store, td_metrics *metrics)
{
    td_api *api = calloc(1, sizeof(*api));
    if (api == NULL)
        return NULL;
    for (size_t i = 0; i < NSERVICES; i++) {
        size_t k = td_rpc_service_methods(services[i], streaming, api->methods + api->n,
                                          MAX_METHODS - api->n, &api->paths[i]);
        if (k == 0) {
            td_api_destroy(api);
            return NULL;
        }
        api->n += k;
    }
    td_task_service_register(api->methods, api->n, store);
    if (td_task_read_register(api->methods, api->n, store, metrics) != TD_OK ||
        td_tag_service_register(api->methods, api->n, store) != TD_OK) {
        td_log_error("api", "a handler does not match the todo.v1 method tables");
        td_api_destroy(api);
        return NULL;
    }
    return api;
}

void td_api_destroy(td_api *api)
{
    if (api == NULL)
        return;
    for (size_t i = 0; i < NSERVICES; i++)
        free(api->paths[i]);
    free(api);
}

const td_rpc_method *td_api_methods(const td_api *api, size_t *n)
{
    *n = api->n;
    return api->methods;
}

const char *const *td_api_service_names(size_t *n)
{
    *n = NSERVICES;
    return service_names;
}
