/*
 * err.c: the names and descriptions of asyncd's error codes.
 */
#include <string.h>

#include "asyncd_err.h"

struct err_entry {
	const char	*code;
	const char	*text;
};

#define ERR_ENTRY_(name, code, text) { code, text },
static const struct err_entry err_table[] = {
	ASYNCD_ERRORS(ERR_ENTRY_)
};
#undef ERR_ENTRY_

const char *
asyncd_strerror(int err)
{
	if (err < 0 || err >= ASYNCD_ERR_COUNT_)
		return ("unknown error");
	return (err_table[err].text);
}

const char *
asyncd_errcode(int err)
{
	if (err < 0 || err >= ASYNCD_ERR_COUNT_)
		return ("internal");
	return (err_table[err].code);
}

int
asyncd_errparse(const char *code)
{
	int	i;

	if (code == NULL)
		return (ASYNCD_EFAILED);
	for (i = 0; i < ASYNCD_ERR_COUNT_; i++) {
		if (strcmp(err_table[i].code, code) == 0)
			return (i);
	}
	return (ASYNCD_EFAILED);
}
