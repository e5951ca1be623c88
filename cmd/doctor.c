/* blazy doctor: what this system offers blazy, and whether blazy can serve here
 * (lib/doctor). */
#include <stdbool.h>
#include <stdio.h>

#include "cmd.h"
#include "doctor/doctor.h"
#include "ublk/ublk.h"

static void print_features(const struct blz_doctor_report *r)
{
	const struct blz_doctor_facts *f = &r->facts;
	if (f->features_error) {
		printf("\nublk features: not known\n");
		return;
	}
	printf("\nublk features (GET_FEATURES 0x%llx):\n", (unsigned long long)f->features);
	printf("  %-24s %3s  %-5s  %-6s  %s\n", "FEATURE", "BIT", "SINCE", "KERNEL", "BLAZY");
	size_t n;
	const struct blz_ublk_feature *t = blz_ublk_feature_table(&n);
	uint64_t known = 0;
	for (size_t i = 0; i < n; i++) {
		bool offered = f->features & t[i].flag;
		const char *blazy = blz_doctor_used(r) & t[i].flag ? "uses"
				    : BLZ_UBLK_F_BLAZY_WANTS & t[i].flag ? "would use"
									 : "-";
		known |= t[i].flag;
		printf("  %-24s %3d  %-5s  %-6s  %s\n", t[i].name, __builtin_ctzll(t[i].flag),
		       t[i].since, offered ? "yes" : "no", blazy);
	}
	for (unsigned bit = 0; bit < 64; bit++)
		if (f->features & ~known & (1ULL << bit))
			printf("  %-24s %3u  %-5s  %-6s  %s\n", "(unknown)", bit, "-", "yes", "-");
}

int cmd_doctor(const struct blz_cmd *cmd, int argc, char **argv)
{
	bool json;
	int r = blz_parse_flags(cmd, argc, argv, (const struct blz_flag[]){ { "json", &json }, { 0 } });
	if (r)
		return r;

	struct blz_doctor_facts facts;
	struct blz_doctor_report rep;
	blz_doctor_probe(&facts);
	blz_doctor_assess(&facts, &rep);
	if (json) {
		struct blz_buf b = { 0 };
		blz_doctor_json(&rep, &b);
		printf("%.*s\n", (int)b.len, (const char *)b.data);
		blz_buf_release(&b);
		return rep.can_serve ? 0 : 1;
	}
	size_t problems = 0;
	for (size_t i = 0; i < rep.n_checks; i++) {
		const struct blz_doctor_check *k = &rep.checks[i];
		printf("%-5s %-14s %s\n", k->status == BLZ_DOCTOR_OK ? "ok"
					  : k->status == BLZ_DOCTOR_WARN ? "warn" : "FAIL",
		       k->name, k->detail);
		if (k->fix[0])
			printf("%-5s %-14s fix: %s\n", "", "", k->fix);
		if (k->status == BLZ_DOCTOR_FAIL && k->needed_to_serve)
			problems++;
	}
	print_features(&rep);
	if (rep.can_serve)
		printf("\nblazy can serve here\n");
	else
		printf("\nblazy cannot serve here: %zu problem%s (see the fixes above)\n", problems,
		       problems == 1 ? "" : "s");
	return rep.can_serve ? 0 : 1;
}
