/* --inject: fault injection on store fetches (fetch.h). */
#include "fetch/fetch.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch/internal.h"
#include "util/clock.h"
#include "util/size.h"
#include "util/strbuf.h"

int blz_fetch_inject_parse(const char *spec, struct blz_fetch_inject *ret, char *err,
			   size_t errlen)
{
	struct blz_fetch_inject inj = { 0 };
	char *copy = blz_xstrdup(spec ? spec : ""), *save = NULL;
	int r = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok && r == 0; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq) {
			r = blz_errf(err, errlen, -EINVAL, "bad inject item '%s' (KEY=VALUE expected)", tok);
			break;
		}
		*eq = '\0';
		const char *key = tok, *val = eq + 1;
		if (strcmp(key, "delay") == 0) {
			if (blz_parse_duration_ms(val, &inj.delay_ms) < 0)
				r = blz_errf(err, errlen, -EINVAL, "bad inject delay '%s'", val);
		} else if (strcmp(key, "error-rate") == 0) {
			char *end;
			double p = strtod(val, &end);
			if (end == val || *end || !(p >= 0 && p <= 1))
				r = blz_errf(err, errlen, -EINVAL,
					     "bad inject error-rate '%s' (0..1 expected)", val);
			inj.error_rate = p;
		} else if (strcmp(key, "error-file") == 0) {
			if (!*val || strlen(val) >= sizeof(inj.error_file))
				r = blz_errf(err, errlen, -EINVAL, "bad inject error-file '%s'", val);
			else
				strcpy(inj.error_file, val);
		} else {
			r = blz_errf(err, errlen, -EINVAL, "unknown inject key '%s'", key);
		}
	}
	free(copy);
	if (r == 0)
		*ret = inj;
	return r;
}

int blz_fetch_inject_apply(const struct blz_fetch_inject *inj, uint64_t deadline_ms, double rnd)
{
	if (inj->delay_ms) {
		uint64_t now = blz_now_ms(), until = now + inj->delay_ms;
		if (until > deadline_ms)
			until = deadline_ms;
		while ((now = blz_now_ms()) < until)
			blz_sleep_ms((unsigned)(until - now));
	}
	if (inj->error_rate > 0 && rnd < inj->error_rate)
		return -EIO;
	if (inj->error_file[0] && access(inj->error_file, F_OK) == 0)
		return -EIO;
	return 0;
}
