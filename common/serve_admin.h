/*
 * serve_admin: Synapse's media admin API on the serving side: the request
 * of admin.fcgi, already authenticated as an admin by the serve loop
 * (mr_auth_check_admin), read through admin_api's parsers, done through
 * admin's operations and answered with Synapse's JSON shapes. Each call
 * leaves one admin log line (log.h) naming the admin, the action, its
 * target and how many media it touched.
 */
#ifndef MR_SERVE_ADMIN_H
#define MR_SERVE_ADMIN_H

#include "http.h"

#define MR_ADMIN_PREFIX "/_synapse/admin/v1/"

int mr_serve_admin(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err);

#endif
