/* blazy list: every ublk device on the system (lib/ublk). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "server/registry.h"
#include "server/status.h"
#include "ublk/ublk.h"
#include "util/json.h"
#include "util/size.h"

int cmd_list(const struct blz_cmd *cmd, int argc, char **argv)
{
	bool json;
	int r = blz_parse_flags(cmd, argc, argv, (const struct blz_flag[]){ { "json", &json }, { 0 } });
	if (r)
		return r;

	struct blz_ublk_ctrl *ctrl;
	r = blz_ublk_ctrl_open(&ctrl);
	if (r == -ENOENT)
		return blz_die("cannot open %s: %s (load the ublk_drv module: modprobe ublk_drv)",
			       BLZ_UBLK_CONTROL_PATH, strerror(-r));
	if (r < 0)
		return blz_die("cannot open %s: %s", BLZ_UBLK_CONTROL_PATH, strerror(-r));
	blz_ublk_ctrl_set_timeout(ctrl, 10000);
	uint32_t *ids;
	size_t n;
	r = blz_ublk_list_ids(&ids, &n);
	if (r < 0) {
		blz_ublk_ctrl_close(ctrl);
		return blz_die("cannot list ublk devices: %s", strerror(-r));
	}

	int status = 0;
	if (json)
		printf("[");
	else
		printf("%-4s %-14s %10s %6s %5s %-8s %7s %s\n", "ID", "DEVICE", "SIZE", "QUEUES",
		       "DEPTH", "STATE", "PID", "SERVER");
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		struct blz_ublk_status s;
		r = blz_ublk_status(ctrl, ids[i], &s);
		if (r == -ENODEV)
			continue; /* gone since the scan */
		if (r < 0) {
			blz_warn("cannot query ublk device %u: %s", ids[i], strerror(-r));
			status = 1;
			continue;
		}
		bool alive = blz_ublk_server_alive(&s);
		struct blz_super_state sup = { 0 };
		if (blz_reg_super_read(s.id, &sup) < 0 ||
		    (strcmp(sup.state, "failed") && !blz_ublk_pid_alive(sup.supervisor)))
			memset(&sup, 0, sizeof(sup)); /* none, or its supervisor is gone */
		const char *state = blz_server_state_name(s.state, sup.state);
		char dev[32], sz[32];
		snprintf(dev, sizeof(dev), "/dev/ublkb%u", s.id);
		if (json) {
			char names[1024]; /* flag names as JSON strings, e.g. CMD_IOCTL_ENCODE","USER_COPY */
			blz_ublk_features_format(s.flags, "\",\"", names, sizeof(names));
			printf("%s{\"id\":%u,\"device\":\"%s\",\"char_device\":\"/dev/ublkc%u\","
			       "\"size\":%llu,\"queues\":%u,\"depth\":%u,\"max_io_bytes\":%u,"
			       "\"state\":\"%s\",\"pid\":%d,\"server_alive\":%s,\"blazy\":%s,"
			       "\"flags\":%llu,\"features\":[%s%s%s],\"supervisor\":%d,"
			       "\"restarts\":%llu,\"last_cause\":",
			       first ? "" : ",", s.id, dev, s.id, (unsigned long long)s.size,
			       s.nr_queues, s.depth, s.max_io_buf_bytes, state,
			       (int)(s.server_pid > 0 ? s.server_pid : 0), alive ? "true" : "false",
			       s.by_blazy ? "true" : "false", (unsigned long long)s.flags,
			       names[0] ? "\"" : "", names, names[0] ? "\"" : "", (int)sup.supervisor,
			       (unsigned long long)sup.restarts);
			blz_json_str(stdout, sup.cause);
			printf("}");
		} else {
			char pid[16] = "-";
			if (s.server_pid > 0)
				snprintf(pid, sizeof(pid), "%d", (int)s.server_pid);
			printf("%-4u %-14s %10s %6u %5u %-8s %7s %s\n", s.id, dev,
			       s.size ? blz_format_size(s.size, sz, sizeof(sz)) : "-", s.nr_queues,
			       s.depth, state, pid,
			       s.server_pid > 0 ? (alive ? "alive" : "gone") : "-");
		}
		first = false;
	}
	if (json)
		printf("]\n");
	free(ids);
	blz_ublk_ctrl_close(ctrl);
	return status;
}
