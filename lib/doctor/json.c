/* blazy doctor: the report as JSON (format in doctor.h). */
#include <errno.h>
#include <string.h>

#include "doctor/doctor.h"
#include "server/control.h"
#include "ublk/ublk.h"
#include "util/jsonw.h"

static void error_or_null(struct blz_buf *b, int e)
{
	blz_jsonw_str(b, e ? strerror(-e) : NULL);
}

/* ,"usable":B,"error":S|null */
static void usable(struct blz_buf *b, int e)
{
	blz_buf_printf(b, ",\"usable\":");
	blz_jsonw_bool(b, e == 0);
	blz_buf_printf(b, ",\"error\":");
	error_or_null(b, e);
}

static void json_flags(const struct blz_doctor_report *r, struct blz_buf *b)
{
	const struct blz_doctor_facts *f = &r->facts;
	uint64_t offered = f->features_error ? 0 : f->features;
	size_t n;
	const struct blz_ublk_feature *t = blz_ublk_feature_table(&n);
	blz_buf_printf(b, "\"flags\":[");
	uint64_t known = 0;
	for (size_t i = 0; i < n; i++) {
		known |= t[i].flag;
		blz_buf_printf(b, "%s{\"name\":", i ? "," : "");
		blz_jsonw_str(b, t[i].name);
		blz_buf_printf(b, ",\"bit\":%d,\"since\":", __builtin_ctzll(t[i].flag));
		blz_jsonw_str(b, t[i].since);
		blz_buf_printf(b, ",\"kernel\":");
		blz_jsonw_bool(b, (offered & t[i].flag) != 0);
		blz_buf_printf(b, ",\"blazy_uses\":");
		blz_jsonw_bool(b, (blz_doctor_used(r) & t[i].flag) != 0);
		blz_buf_printf(b, ",\"blazy_wants\":");
		blz_jsonw_bool(b, (BLZ_UBLK_F_BLAZY_WANTS & t[i].flag) != 0);
		blz_buf_printf(b, "}");
	}
	blz_buf_printf(b, "],\"unknown_bits\":[");
	const char *sep = "";
	for (unsigned bit = 0; bit < 64; bit++) {
		if (offered & ~known & (1ULL << bit)) {
			blz_buf_printf(b, "%s%u", sep, bit);
			sep = ",";
		}
	}
	blz_buf_printf(b, "]");
}

static void json_ublk(const struct blz_doctor_report *r, struct blz_buf *b)
{
	const struct blz_doctor_facts *f = &r->facts;
	blz_buf_printf(b, "\"ublk\":{\"module\":");
	blz_jsonw_str(b, blz_doctor_module_name(f->ublk));
	blz_buf_printf(b, ",\"control\":");
	blz_jsonw_bool(b, f->control_error == 0);
	blz_buf_printf(b, ",\"control_error\":");
	error_or_null(b, f->control_error);
	blz_buf_printf(b, ",\"opcodes\":");
	blz_jsonw_str(b, f->control_error ? NULL : f->legacy_opcodes ? "legacy" : "encoded");
	blz_buf_printf(b, ",\"features_known\":");
	blz_jsonw_bool(b, f->features_error == 0);
	blz_buf_printf(b, ",\"features\":%llu,\"requested\":%llu,\"zero_copy\":%s,",
		      (unsigned long long)(f->features_error ? 0 : f->features),
		      (unsigned long long)r->requested, r->zero_copy ? "true" : "false");
	json_flags(r, b);
	blz_buf_printf(b, "}");
}

void blz_doctor_json(const struct blz_doctor_report *r, struct blz_buf *b)
{
	const struct blz_doctor_facts *f = &r->facts;
	int v = blz_ublk_parse_kernel_version(f->release);
	blz_buf_printf(b, "{\"kernel\":{\"release\":");
	blz_jsonw_str(b, f->release);
	blz_buf_printf(b, ",\"version\":");
	if (v > 0)
		blz_buf_printf(b, "\"%d.%d\"", v / 1000, v % 1000);
	else
		blz_jsonw_str(b, NULL);
	blz_buf_printf(b, "},\"can_serve\":");
	blz_jsonw_bool(b, r->can_serve);
	blz_buf_printf(b, ",\"checks\":[");
	for (size_t i = 0; i < r->n_checks; i++) {
		const struct blz_doctor_check *c = &r->checks[i];
		blz_buf_printf(b, "%s{\"name\":", i ? "," : "");
		blz_jsonw_str(b, c->name);
		blz_buf_printf(b, ",\"status\":");
		blz_jsonw_str(b, blz_doctor_status_name(c->status));
		blz_buf_printf(b, ",\"needed_to_serve\":");
		blz_jsonw_bool(b, c->needed_to_serve);
		blz_buf_printf(b, ",\"detail\":");
		blz_jsonw_str(b, c->detail);
		blz_buf_printf(b, ",\"fix\":");
		blz_jsonw_str(b, c->fix[0] ? c->fix : NULL);
		blz_buf_printf(b, "}");
	}
	blz_buf_printf(b, "],");
	json_ublk(r, b);
	blz_buf_printf(b, ",\"io_uring\":{\"disabled\":");
	if (f->io_uring_disabled >= 0)
		blz_buf_printf(b, "%d", f->io_uring_disabled);
	else
		blz_jsonw_str(b, NULL);
	usable(b, f->io_uring_error);
	blz_buf_printf(b, "},\"btrfs\":");
	blz_jsonw_str(b, blz_doctor_module_name(f->btrfs));
	blz_buf_printf(b, ",\"loop\":");
	blz_jsonw_str(b, blz_doctor_module_name(f->loop));
	blz_buf_printf(b, ",\"run_dir\":{\"path\":");
	blz_jsonw_str(b, BLZ_RUN_DIR);
	usable(b, f->run_dir_error);
	blz_buf_printf(b, "},\"cap_sys_admin\":");
	blz_jsonw_bool(b, f->cap_sys_admin);
	blz_buf_printf(b, "}");
}
