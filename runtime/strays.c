/*
 * What a daemon killed at the wrong moment can leave with no live sandbox behind it, swept once
 * recover() has taken back what it could: sandbox cgroups, and image holds.
 *
 * Only cgroups whose sandbox this state directory's registry knows are ours to remove. Daemons
 * on other state directories started from the same cgroup share <own>/runbox/ with us, and their
 * sandboxes are just as much runbox-sb_*. A create records its sandbox ("creating") before it
 * makes the cgroup, and a terminate or failed create removes the cgroup before it forgets the
 * record, so a cgroup of ours always has a record, whenever the daemon dies.
 *
 * The image store is this state directory's own, so every holder in it is one of our sandboxes:
 * a hold no live sandbox stands for (the create died between taking the image and recording
 * the sandbox) is released.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "images/images.h"
#include "sandbox.h"

static bool is_live(const struct rb_rt_sandboxes *m, const char *id)
{
	for (size_t i = 0; i < m->n_live; i++)
		if (!strcmp(m->live[i]->id, id))
			return true;
	return false;
}

static bool has_record(struct rb_rt_sandboxes *m, const char *id)
{
	sqlite3_stmt *st = NULL;
	bool found = false;

	if (sqlite3_prepare_v2(m->db, "SELECT 1 FROM sandboxes WHERE id=?", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return found;
}

static void sweep_cgroups(struct rb_rt_sandboxes *m, const char *parent)
{
	DIR *d = opendir(parent);
	const struct dirent *e;
	const size_t plen = strlen(RB_ISO_CGROUP_PREFIX);

	if (!d)
		return;
	while ((e = readdir(d))) {
		const char *id = e->d_name + plen;
		struct rb_iso_cgroup *cg = NULL;
		struct rb_error err;

		if (e->d_type != DT_DIR || strncmp(e->d_name, RB_ISO_CGROUP_PREFIX, plen) != 0 ||
		    strncmp(id, "sb_", 3) != 0 || is_live(m, id) || !has_record(m, id))
			continue;
		/* every hierarchy at once; in the next one it is gone already */
		if (rb_iso_cgroup_load(&m->cg, id, &cg, &err) == 0) {
			rb_iso_cgroup_kill_all(cg, &err);
			rb_iso_cgroup_destroy(cg, &err);
			rb_iso_cgroup_free(cg);
		}
	}
	closedir(d);
}

static void sweep_holds(struct rb_rt_sandboxes *m)
{
	char **holders = NULL;
	struct rb_error err;

	if (rb_image_holders(m->store, &holders, &err) < 0)
		return;
	for (char **h = holders; *h; h++) {
		if (!is_live(m, *h))
			rb_image_release(m->store, *h, &err);
		free(*h);
	}
	free(holders);
}

void rb_rt_sb_sweep_strays(struct rb_rt_sandboxes *m)
{
	for (size_t i = 0; i < m->cg.n_hier; i++) {
		char parent[RB_ISO_CGROUP_PATH_MAX + 16];

		snprintf(parent, sizeof(parent), "%s/%s", m->cg.hier[i].own, RB_ISO_CGROUP_PARENT);
		sweep_cgroups(m, parent);
	}
	if (m->store)
		sweep_holds(m);
}
