/*
 * The policy as the API gives it: network.mode, egress {allow, default}, ingress {allowPorts},
 * parsed and checked before anything touches the kernel, and given back as JSON.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cleanup.h"
#include "netpolicy.h"

static const char *const mode_names[] = {"none", "private"};

int rb_net_mode_parse(const char *s, enum rb_net_mode *out)
{
	for (size_t i = 0; i < RB_ARRAY_SIZE(mode_names); i++)
		if (s && !strcmp(s, mode_names[i])) {
			*out = (enum rb_net_mode)i;
			return 0;
		}
	return -EINVAL;
}

const char *rb_net_mode_name(enum rb_net_mode mode)
{
	return mode_names[mode];
}

static int parse_port(const char *s, uint16_t *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* Host bits set under the prefix? */
static bool host_bits(const uint8_t *addr, unsigned len, unsigned bits)
{
	for (unsigned i = 0; i < len; i++) {
		unsigned keep = bits >= (i + 1) * 8 ? 8 : bits > i * 8 ? bits - i * 8 : 0;
		uint8_t mask = keep ? (uint8_t)(0xff << (8 - keep)) : 0;

		if (addr[i] & (uint8_t)~mask)
			return true;
	}
	return false;
}

static bool domain_ok(const char *d)
{
	size_t label = 0, n = strlen(d);

	if (!strncmp(d, "*.", 2))
		d += 2, n -= 2;
	if (n == 0 || n > 253 || d[0] == '.' || d[n - 1] == '.')
		return false;
	for (; *d; d++) {
		if (*d == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*d) && *d != '-' && *d != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

static int entry_err(struct rb_error *err, const char *s, const char *why)
{
	return rb_error_set(err, EINVAL, RB_INVALID_CONFIG, "\"%.100s\" %s", s, why);
}

int rb_net_entry_parse(const char *s, struct rb_net_entry *out, struct rb_error *err)
{
	char buf[300], *host = buf, *port = NULL, *slash;
	unsigned max;

	memset(out, 0, sizeof(*out));
	if (!s || !*s || strlen(s) >= sizeof(buf))
		return entry_err(err, s ? s : "", "is not an address, a CIDR or a domain");
	strcpy(buf, s);
	if (buf[0] == '[') { /* [v6]:port, [v6/bits]:port */
		char *close = strchr(buf, ']');

		if (!close || (close[1] && close[1] != ':'))
			return entry_err(err, s, "has an unclosed or misplaced ']'");
		*close = '\0';
		host = buf + 1;
		if (close[1] == ':')
			port = close + 2;
	} else if (strchr(buf, ':') == strrchr(buf, ':') && strchr(buf, ':')) {
		port = strchr(buf, ':'); /* one colon: host:port; more: a bare IPv6 */
		*port++ = '\0';
	}
	if (port && parse_port(port, &out->port) < 0)
		return entry_err(err, s, "has a port that is not a number from 1 to 65535");
	slash = strchr(host, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		if (slash || !domain_ok(host))
			return entry_err(err, s, "is not an address, a CIDR or a domain");
		out->kind = RB_NET_ENTRY_DOMAIN;
		for (size_t i = 0; host[i]; i++)
			out->domain[i] = (char)tolower((unsigned char)host[i]);
		return 0;
	}
	out->kind = RB_NET_ENTRY_CIDR;
	out->bits = max;
	if (slash) {
		char *end;
		long b;

		errno = 0;
		b = strtol(slash + 1, &end, 10);
		if (!isdigit((unsigned char)slash[1]) || errno || *end || b < 0 || b > (long)max)
			return entry_err(err, s, "has a prefix length out of range");
		out->bits = (unsigned)b;
	}
	if (host_bits(out->addr, max / 8, out->bits))
		return entry_err(err, s, "has bits set beyond its prefix length");
	return 0;
}

bool rb_net_entry_covers(const struct rb_net_entry *e, int family, const void *addr, uint16_t port)
{
	const uint8_t *a = addr;

	if (e->kind != RB_NET_ENTRY_CIDR || e->family != family || (e->port && e->port != port))
		return false;
	for (unsigned i = 0; i * 8 < e->bits; i++) {
		unsigned keep = e->bits - i * 8 >= 8 ? 8 : e->bits - i * 8;
		uint8_t mask = (uint8_t)(0xff << (8 - keep));

		if ((a[i] & mask) != (e->addr[i] & mask))
			return false;
	}
	return true;
}

static int field_err(struct rb_error *err, const char *field, const char *msg)
{
	return rb_error_set(err, EINVAL, RB_INVALID_CONFIG, "field \"%s\" %s", field, msg);
}

static int parse_egress(const cJSON *eg, struct rb_net_policy *p, struct rb_error *err)
{
	const cJSON *allow = cJSON_GetObjectItemCaseSensitive(eg, "allow");
	const cJSON *def = cJSON_GetObjectItemCaseSensitive(eg, "default");
	const cJSON *it;
	size_t n = 0;

	if (eg && !cJSON_IsNull(eg) && !cJSON_IsObject(eg))
		return field_err(err, "network.egress", "must be an object");
	if (def && !cJSON_IsNull(def)) {
		if (!cJSON_IsString(def) ||
		    (strcmp(def->valuestring, "allow") && strcmp(def->valuestring, "deny")))
			return field_err(err, "network.egress.default",
					 "must be \"allow\" or \"deny\"");
		p->default_allow = !strcmp(def->valuestring, "allow");
	} else {
		p->default_allow = true;
	}
	free(p->allow);
	p->allow = NULL;
	p->n_allow = 0;
	if (!allow || cJSON_IsNull(allow))
		return 0;
	if (!cJSON_IsArray(allow))
		return field_err(err, "network.egress.allow", "must be an array of strings");
	if (cJSON_GetArraySize(allow) > RB_NET_MAX_ALLOW)
		return field_err(err, "network.egress.allow", "has more than 256 entries");
	p->allow = calloc((size_t)cJSON_GetArraySize(allow) + 1, sizeof(*p->allow));
	if (!p->allow)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	cJSON_ArrayForEach(it, allow)
	{
		int r;

		if (!cJSON_IsString(it))
			return field_err(err, "network.egress.allow", "must hold only strings");
		r = rb_net_entry_parse(it->valuestring, &p->allow[n], err);
		if (r < 0)
			return rb_error_wrap(err, "field \"network.egress.allow[%zu]\"", n);
		p->n_allow = ++n;
	}
	return 0;
}

static int parse_ingress(const cJSON *in, struct rb_net_policy *p, struct rb_error *err)
{
	const cJSON *ports = cJSON_GetObjectItemCaseSensitive(in, "allowPorts");
	const cJSON *it;

	if (in && !cJSON_IsNull(in) && !cJSON_IsObject(in))
		return field_err(err, "network.ingress", "must be an object");
	if (!ports || cJSON_IsNull(ports))
		return 0;
	if (!cJSON_IsArray(ports) || cJSON_GetArraySize(ports) > 64)
		return field_err(err, "network.ingress.allowPorts",
				 "must be an array of at most 64 ports");
	p->ports = calloc((size_t)cJSON_GetArraySize(ports) + 1, sizeof(*p->ports));
	if (!p->ports)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	cJSON_ArrayForEach(it, ports)
	{
		if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 65535 ||
		    it->valuedouble != (double)(int)it->valuedouble)
			return field_err(err, "network.ingress.allowPorts",
					 "must hold whole numbers from 1 to 65535");
		p->ports[p->n_ports++] = (uint16_t)it->valueint;
	}
	return 0;
}

int rb_net_policy_parse(const cJSON *network, enum rb_net_mode def, struct rb_net_policy *out,
			struct rb_error *err)
{
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(network, "mode");
	int r;

	memset(out, 0, sizeof(*out));
	out->mode = def;
	out->default_allow = true;
	if (!network || cJSON_IsNull(network))
		return 0;
	if (!cJSON_IsObject(network))
		return field_err(err, "network", "must be an object");
	if (mode && !cJSON_IsNull(mode) &&
	    (!cJSON_IsString(mode) || rb_net_mode_parse(mode->valuestring, &out->mode) < 0))
		return field_err(err, "network.mode", "must be \"none\" or \"private\"");
	r = parse_egress(cJSON_GetObjectItemCaseSensitive(network, "egress"), out, err);
	if (r == 0)
		r = parse_ingress(cJSON_GetObjectItemCaseSensitive(network, "ingress"), out, err);
	if (r < 0)
		rb_net_policy_free(out);
	return r;
}

int rb_net_policy_parse_egress(const cJSON *body, struct rb_net_policy *p, struct rb_error *err)
{
	const cJSON *eg = cJSON_GetObjectItemCaseSensitive(body, "egress");
	struct rb_net_policy np = {.mode = p->mode};
	int r;

	if (!cJSON_IsObject(body))
		return rb_error_set(err, EINVAL, RB_INVALID_REQUEST, "the body must be an object");
	if (cJSON_GetObjectItemCaseSensitive(body, "mode") ||
	    cJSON_GetObjectItemCaseSensitive(body, "ingress"))
		return field_err(err, "network", "may change only egress on a running sandbox");
	r = parse_egress(eg ? eg : body, &np, err);
	if (r < 0) {
		free(np.allow);
		return r;
	}
	free(p->allow);
	p->allow = np.allow;
	p->n_allow = np.n_allow;
	p->default_allow = np.default_allow;
	return 0;
}

void rb_net_policy_free(struct rb_net_policy *p)
{
	free(p->allow);
	free(p->ports);
	p->allow = NULL;
	p->ports = NULL;
	p->n_allow = p->n_ports = 0;
}

static void entry_text(const struct rb_net_entry *e, char *out, size_t size)
{
	char a[INET6_ADDRSTRLEN], bits[8] = "", port[8] = "";
	bool v6 = e->family == AF_INET6;

	if (e->kind == RB_NET_ENTRY_DOMAIN) {
		snprintf(a, sizeof(a), "%s", "");
		if (e->port)
			snprintf(out, size, "%s:%u", e->domain, e->port);
		else
			snprintf(out, size, "%s", e->domain);
		return;
	}
	inet_ntop(e->family, e->addr, a, sizeof(a));
	if (e->bits != (v6 ? 128u : 32u))
		snprintf(bits, sizeof(bits), "/%u", e->bits);
	if (e->port)
		snprintf(port, sizeof(port), ":%u", e->port);
	snprintf(out, size, "%s%s%s%s%s", v6 && e->port ? "[" : "", a, bits,
		 v6 && e->port ? "]" : "", port);
}

cJSON *rb_net_policy_json(const struct rb_net_policy *p)
{
	cJSON *o = cJSON_CreateObject(), *eg, *allow, *in, *ports;

	cJSON_AddStringToObject(o, "mode", rb_net_mode_name(p->mode));
	eg = cJSON_AddObjectToObject(o, "egress");
	allow = cJSON_AddArrayToObject(eg, "allow");
	for (size_t i = 0; i < p->n_allow; i++) {
		char text[300];

		entry_text(&p->allow[i], text, sizeof(text));
		cJSON_AddItemToArray(allow, cJSON_CreateString(text));
	}
	cJSON_AddStringToObject(eg, "default", p->default_allow ? "allow" : "deny");
	in = cJSON_AddObjectToObject(o, "ingress");
	ports = cJSON_AddArrayToObject(in, "allowPorts");
	for (size_t i = 0; i < p->n_ports; i++)
		cJSON_AddItemToArray(ports, cJSON_CreateNumber(p->ports[i]));
	return o;
}

/* ---- the pool ---- */

void rb_net_config_default(struct rb_net_config *cfg)
{
	*cfg = (struct rb_net_config){
	    .default_mode = RB_NET_PRIVATE, .pool = 0x0a580000u /* 10.88.0.0 */, .pool_bits = 16};
}

void rb_net_config_owner(struct rb_net_config *cfg, const char *state_dir)
{
	size_t len = strlen(state_dir);
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	if (len < sizeof(cfg->owner)) {
		memcpy(cfg->owner, state_dir, len + 1);
		return;
	}
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)state_dir[i]) * 0x100000001b3ull;
	snprintf(cfg->owner, sizeof(cfg->owner), "%.*s...#%016llx", (int)(sizeof(cfg->owner) - 21),
		 state_dir, (unsigned long long)h);
}

int rb_net_pool_parse(const char *cidr, struct rb_net_config *cfg, struct rb_error *err)
{
	struct rb_net_entry e;

	if (rb_net_entry_parse(cidr, &e, err) < 0 || e.kind != RB_NET_ENTRY_CIDR ||
	    e.family != AF_INET || e.port || e.bits < 8 || e.bits > 29)
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "network pool \"%.64s\" is not an IPv4 network from /8 to /29 "
				    "(e.g. 10.88.0.0/16)",
				    cidr ? cidr : "");
	cfg->pool = (uint32_t)e.addr[0] << 24 | (uint32_t)e.addr[1] << 16 |
		    (uint32_t)e.addr[2] << 8 | e.addr[3];
	cfg->pool_bits = e.bits;
	return 0;
}

int rb_net_pool_addrs(const struct rb_net_config *cfg, uint32_t slot, struct rb_net_addrs *out,
		      struct rb_error *err)
{
	/* a /30 per slot: network, gateway (the host end), sandbox, broadcast */
	uint64_t n = 1ull << (30 - cfg->pool_bits);

	if (slot >= n)
		return rb_error_set(err, ENOSPC, RB_RESOURCE_EXHAUSTED,
				    "the network pool (/%u) has no room for sandbox slot %u (%llu "
				    "sandboxes at most)",
				    cfg->pool_bits, slot, (unsigned long long)n);
	out->network = cfg->pool + (slot << 2);
	out->gateway = out->network + 1;
	out->address = out->network + 2;
	out->bits = 30;
	return 0;
}
