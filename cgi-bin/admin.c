/*
 * admin: Synapse's media admin API under /_synapse/admin/v1/ (media info,
 * quarantine and protection, a user's and a room's media, deletes, the
 * remote cache purge, statistics), for moderators' bots and web UIs.
 * Admins only: the serve loop refuses everyone else before the handler.
 */
#include "../common/http.h"
#include "../common/serve_admin.h"

static const struct mr_program admin_program = {
	.name = "admin",
	.endpoints = MR_EP_BIT(MR_EP_ADMIN),
	.handler = mr_serve_admin,
};

int
main(void)
{
	return mr_http_serve(&admin_program);
}
