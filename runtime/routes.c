/* The API's routes: adding an endpoint is adding a line here and a handler beside its kin. */
#include "runtime-internal.h"

#include "common/cleanup.h"

const struct rb_rt_route rb_rt_routes[] = {
    {"GET", "/api/v1/health", rb_rt_api_health, 0, NULL},
    {"GET", "/api/v1/info", rb_rt_api_info, 0, NULL},
    {"GET", "/api/v1/images", rb_rt_api_images_list, 0, NULL},
    {"POST", "/api/v1/images/load", rb_rt_api_images_load, 0, NULL},
    {"GET", "/api/v1/images/{ref*}", rb_rt_api_image_get, 0, NULL},
    {"DELETE", "/api/v1/images/{ref*}", rb_rt_api_image_delete, 0, NULL},
    {"POST", "/api/v1/sandboxes", rb_rt_api_sandbox_create, 0, NULL},
    {"GET", "/api/v1/sandboxes", rb_rt_api_sandbox_list, 0, NULL},
    {"GET", "/api/v1/sandboxes/{id}", rb_rt_api_sandbox_get, 0, NULL},
    {"DELETE", "/api/v1/sandboxes/{id}", rb_rt_api_sandbox_delete, 0, NULL},
    {"POST", "/api/v1/sandboxes/{id}/exec", rb_rt_api_sandbox_exec, RB_RT_COMMAND_MAX * 4, NULL},
    {"GET", "/api/v1/sandboxes/{id}/files", rb_rt_api_file_read, 0, NULL},
    {"POST", "/api/v1/sandboxes/{id}/files", rb_rt_api_file_write, RB_RT_FILE_JSON_MAX * 2,
     rb_rt_api_file_upload_open},
    {"DELETE", "/api/v1/sandboxes/{id}/files", rb_rt_api_file_delete, 0, NULL},
    {"GET", "/api/v1/sandboxes/{id}/files/list", rb_rt_api_file_list, 0, NULL},
    {"GET", "/api/v1/sandboxes/{id}/files/exists", rb_rt_api_file_exists, 0, NULL},
    {"POST", "/api/v1/sandboxes/{id}/files/mkdir", rb_rt_api_file_mkdir, 0, NULL},
    {"POST", "/api/v1/sandboxes/{id}/pause", rb_rt_api_sandbox_pause, 0, NULL},
    {"POST", "/api/v1/sandboxes/{id}/resume", rb_rt_api_sandbox_resume, 0, NULL},
    {"GET", "/api/v1/sandboxes/{id}/metrics", rb_rt_api_sandbox_metrics, 0, NULL},
    {"POST", "/api/v1/sandboxes/{id}/timeout", rb_rt_api_sandbox_timeout, 0, NULL},
    {"GET", "/api/v1/sandboxes/{id}/network", rb_rt_api_sandbox_network_get, 0, NULL},
    {"PATCH", "/api/v1/sandboxes/{id}/network", rb_rt_api_sandbox_network_patch, 0, NULL},
    {"POST", "/api/v1/sandboxes/{id}/ports", rb_rt_api_sandbox_port_expose, 0, NULL},
    {"GET", "/api/v1/sandboxes/{id}/ports", rb_rt_api_sandbox_ports_list, 0, NULL},
    {"DELETE", "/api/v1/sandboxes/{id}/ports/{port}", rb_rt_api_sandbox_port_close, 0, NULL},
    {"GET", "/api/v1/events", rb_rt_api_events, 0, NULL},
    {"GET", "/metrics", rb_rt_api_metrics, 0, NULL},
};

const size_t rb_rt_n_routes = RB_ARRAY_SIZE(rb_rt_routes);
