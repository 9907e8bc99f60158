/*
 * sp.c: the bytes of nng's SP protocol over a unix stream, which the
 * daemon's ipc:// transport (daemon/conn.c) and libasyncd's direct
 * connections (lib/direct.c) both speak, so that the two cannot drift
 * apart. PROTOCOL.md, "Transport", describes them.
 */
#include <string.h>

#include "proto.h"

void
proto_sp_hello(unsigned char out[PROTO_SP_HELLO], uint16_t self)
{
	static const unsigned char sp[4] = { 0x00, 'S', 'P', 0x00 };

	memcpy(out, sp, sizeof sp);
	proto_put_be(out + 4, self, 2);
	out[6] = out[7] = 0;
}

bool
proto_sp_hello_is(const unsigned char in[PROTO_SP_HELLO], uint16_t peer)
{
	unsigned char	want[PROTO_SP_HELLO];

	proto_sp_hello(want, peer);
	return (memcmp(in, want, sizeof want) == 0);
}

void
proto_put_be(unsigned char *p, uint64_t v, int n)
{
	int	i;

	for (i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

uint64_t
proto_get_be(const unsigned char *p, int n)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return (v);
}
