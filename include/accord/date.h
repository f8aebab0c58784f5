/*
 * date.h - calendar dates as days since 1970-01-01 (UTC).
 *
 * The protocol's dates are whole days: a protocol is in force from the start
 * of effective_from to the end of review_by, in UTC.
 */
#ifndef ACCORD_DATE_H
#define ACCORD_DATE_H

#include "accord/error.h"

typedef int32_t accord_date;

/* Parse exactly "YYYY-MM-DD" (a real calendar day, years 1970..9999). */
int date_parse(const char *s, accord_date *out) ACCORD_MUST_CHECK;

/* Format as "YYYY-MM-DD" into buf (at least 11 bytes). */
void date_format(accord_date d, char buf[static 11]);

/* Today in UTC. */
accord_date date_today(void);

/* Days from a civil date; y/m/d must already be valid. */
accord_date date_from_civil(int y, int m, int d);

#endif
