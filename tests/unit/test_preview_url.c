/*
 * test_preview_url: the SSRF table of URL previews (every spelling of a
 * private address refused, names left to the connect-time check), the
 * URL parser's valid/invalid tables, IPv4 spellings against inet_aton as
 * the oracle, and url_preview_url_blacklist rules and globs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "../../common/preview_url.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The test web server listens on 127.0.0.2, so e2e tests whitelist it. */
#define TEST_ALLOW "127.0.0.2/32"

static struct mr_net_list deny, allow;

static int
group_setup(void **state)
{
	(void)state;
	if (mr_net_parse_list(MR_NET_DEFAULT_BLACKLIST, &deny) < 0 ||
	    mr_net_parse_list(TEST_ALLOW, &allow) < 0)
		return -1;
	return 0;
}

/* --- the SSRF table --- */

struct ssrf_case {
	const char *url;
	int is_ip;		/* expected host_is_ip */
	const char *host;	/* expected canonical host */
	int allowed;		/* for literals: mr_preview_ip_allowed */
};

static const struct ssrf_case ssrf_cases[] = {
	/* the table the issue asks for */
	{ "http://127.0.0.1/", 4, "127.0.0.1", 0 },
	/* a name: the connect-time check (mr_net_allowed) refuses it */
	{ "http://localhost/", 0, "localhost", 0 },
	{ "http://[::1]/", 6, "::1", 0 },
	{ "http://10.0.0.1/", 4, "10.0.0.1", 0 },
	{ "http://172.16.0.1/", 4, "172.16.0.1", 0 },
	{ "http://192.168.1.1/", 4, "192.168.1.1", 0 },
	{ "http://169.254.169.254/latest/meta-data", 4, "169.254.169.254", 0 },
	{ "http://100.64.0.1/", 4, "100.64.0.1", 0 },
	{ "http://[::ffff:127.0.0.1]/", 6, "::ffff:127.0.0.1", 0 },
	{ "http://[::ffff:7f00:1]/", 6, "::ffff:127.0.0.1", 0 },
	{ "http://2130706433/", 4, "127.0.0.1", 0 },
	{ "http://0177.0.0.1/", 4, "127.0.0.1", 0 },
	{ "http://0x7f.1/", 4, "127.0.0.1", 0 },
	{ "http://0.0.0.0/", 4, "0.0.0.0", 0 },
	{ "http://[::]/", 6, "::", 0 },
	{ "http://[fc00::1]/", 6, "fc00::1", 0 },
	{ "http://[fe80::1]/", 6, "fe80::1", 0 },
	{ "http://[64:ff9b::7f00:1]/", 6, "64:ff9b::7f00:1", 0 },
	{ "http://127.1/", 4, "127.0.0.1", 0 },
	{ "http://0x7f000001/", 4, "127.0.0.1", 0 },
	{ "http://017700000001/", 4, "127.0.0.1", 0 },
	{ "https://127.0.0.1:8448/x", 4, "127.0.0.1", 0 },
	{ "http://[0:0:0:0:0:ffff:127.0.0.1]/", 6, "::ffff:127.0.0.1", 0 },
	/* more spellings */
	{ "http://127.0.0.1./", 4, "127.0.0.1", 0 },
	{ "http://0X7F.0.0.1/", 4, "127.0.0.1", 0 },
	{ "http://0x7f.0.0.01/", 4, "127.0.0.1", 0 },
	{ "http://127.000.000.001/", 4, "127.0.0.1", 0 },
	{ "http://127.0.1/", 4, "127.0.0.1", 0 },
	{ "http://0/", 4, "0.0.0.0", 0 },
	{ "http://0.1.2.3/", 4, "0.1.2.3", 0 },
	{ "http://0xa9fea9fe/", 4, "169.254.169.254", 0 },
	{ "http://169.254.43518/", 4, "169.254.169.254", 0 },
	{ "http://LOCALHOST./", 0, "localhost", 0 },
	{ "http://[::FFFF:A9FE:A9FE]/", 6, "::ffff:169.254.169.254", 0 },
	{ "http://[::ffff:0.0.0.0]/", 6, "::ffff:0.0.0.0", 0 },
	{ "http://[fd00:ec2::254]/", 6, "fd00:ec2::254", 0 },
	{ "http://[ff02::1]/", 6, "ff02::1", 0 },
	{ "http://192.0.0.170/", 4, "192.0.0.170", 0 },
	{ "http://224.0.0.1/", 4, "224.0.0.1", 0 },
	{ "http://[64:ff9b::a00:1]/", 6, "64:ff9b::a00:1", 0 },
	{ "http://[64:ff9b::]/", 6, "64:ff9b::", 0 },
	/* IPv4 carried elsewhere in IPv6 */
	{ "http://[::127.0.0.1]/", 6, "::127.0.0.1", 0 },
	{ "http://[::7f00:2]/", 6, "::127.0.0.2", 1 },	/* judged as v4 */
	{ "http://[2002:7f00:1::]/", 6, "2002:7f00:1::", 0 },
	{ "http://[2002:a9fe:a9fe::1]/", 6, "2002:a9fe:a9fe::1", 0 },
	{ "http://[64:ff9b:1::7f00:1]/", 6, "64:ff9b:1::7f00:1", 0 },
	{ "http://[64:ff9b:1::5db8:d822]/", 6, "64:ff9b:1::5db8:d822", 0 },
	/* allowed */
	{ "http://127.0.0.2/", 4, "127.0.0.2", 1 },
	{ "http://0x7f.2/", 4, "127.0.0.2", 1 },
	{ "http://[::ffff:127.0.0.2]/", 6, "::ffff:127.0.0.2", 1 },
	{ "http://[64:ff9b::7f00:2]/", 6, "64:ff9b::7f00:2", 1 },
	{ "http://93.184.216.34/", 4, "93.184.216.34", 1 },
	{ "http://1572395042/", 4, "93.184.216.34", 1 },
	{ "http://[2606:4700::1]/", 6, "2606:4700::1", 1 },
	{ "http://[::ffff:93.184.216.34]/", 6, "::ffff:93.184.216.34", 1 },
	{ "http://[64:ff9b::5db8:d822]/", 6, "64:ff9b::5db8:d822", 1 },
	{ "http://[2002:5db8:d822::1]/", 6, "2002:5db8:d822::1", 1 },
	{ "http://8.8.8.8:8080/", 4, "8.8.8.8", 1 },
	{ "http://example.com/", 0, "example.com", 1 },
};

static void
test_ssrf_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(ssrf_cases); i++) {
		const struct ssrf_case *c = &ssrf_cases[i];
		struct mr_preview_url u;
		struct mr_err err;
		int rc = mr_preview_parse_url(c->url, &u, &err);

		if (rc != 0 || u.host_is_ip != c->is_ip ||
		    strcmp(u.host, c->host) != 0)
			fail_msg("%s: rc %d is_ip %d host '%s'", c->url, rc,
			    u.host_is_ip, u.host);
		if (c->is_ip == 0)
			continue;
		if (mr_preview_ip_allowed(u.ip, &deny, &allow) != c->allowed)
			fail_msg("%s: allowed should be %d", c->url,
			    c->allowed);
	}
}

/* An IPv4 literal's ip is the mapped address; IPv6 the 16 bytes. */
static void
test_ssrf_ip_bytes(void **state)
{
	struct mr_preview_url u;
	struct mr_err err;
	uint8_t want[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 };

	(void)state;
	assert_int_equal(mr_preview_parse_url("http://0x7f.1/", &u, &err), 0);
	assert_memory_equal(u.ip, want, 16);
	assert_int_equal(mr_preview_parse_url("http://[::ffff:7f00:1]/", &u,
	    &err), 0);
	assert_memory_equal(u.ip, want, 16);
	assert_int_equal(inet_pton(AF_INET6, "2606:4700::1", want), 1);
	assert_int_equal(mr_preview_parse_url("https://[2606:4700::1]/", &u,
	    &err), 0);
	assert_memory_equal(u.ip, want, 16);
}

/* 0.0.0.0/8 and :: are refused even when the operator allows them. */
static void
test_always_blocked(void **state)
{
	static const char *const addrs[] = {
		"0.0.0.0", "0.1.2.3", "::", "::ffff:0.0.0.0", "64:ff9b::1",
	};
	struct mr_net_list all;
	struct mr_preview_url u;
	struct mr_err err;
	char url[128];

	(void)state;
	assert_int_equal(mr_net_parse_list("0.0.0.0/0, ::/0", &all), 0);
	for (size_t i = 0; i < NELEM(addrs); i++) {
		snprintf(url, sizeof(url), strchr(addrs[i], ':') ?
		    "http://[%s]/" : "http://%s/", addrs[i]);
		assert_int_equal(mr_preview_parse_url(url, &u, &err), 0);
		if (mr_preview_ip_allowed(u.ip, NULL, &all) != 0)
			fail_msg("%s allowed", url);
	}
	/* with no lists at all, ordinary addresses pass */
	assert_int_equal(mr_preview_parse_url("http://10.0.0.1/", &u, &err), 0);
	assert_int_equal(mr_preview_ip_allowed(u.ip, NULL, NULL), 1);
	/* an allow entry for the IPv6 form itself is honoured */
	assert_int_equal(mr_net_parse_list("2002:7f00:1::/48", &all), 0);
	assert_int_equal(mr_preview_parse_url("http://[2002:7f00:1::5]/", &u,
	    &err), 0);
	assert_int_equal(mr_preview_ip_allowed(u.ip, &deny, NULL), 0);
	assert_int_equal(mr_preview_ip_allowed(u.ip, &deny, &all), 1);
}

/* --- mr_preview_addr_allowed with real socket addresses --- */

static const struct {
	const char *addr;
	int allowed;
} addr_cases[] = {
	{ "127.0.0.1", 0 }, { "10.0.0.1", 0 }, { "172.16.0.1", 0 },
	{ "172.31.255.255", 0 }, { "192.168.1.1", 0 },
	{ "169.254.169.254", 0 }, { "100.64.0.1", 0 }, { "0.0.0.0", 0 },
	{ "0.255.255.255", 0 }, { "224.0.0.1", 0 }, { "198.18.0.1", 0 },
	{ "::1", 0 }, { "::", 0 }, { "::ffff:127.0.0.1", 0 },
	{ "::ffff:10.1.2.3", 0 }, { "fc00::1", 0 }, { "fd12::1", 0 },
	{ "fe80::1", 0 }, { "fec0::1", 0 }, { "ff02::1", 0 },
	{ "2001:db8::1", 0 }, { "64:ff9b::7f00:1", 0 },
	{ "64:ff9b::c0a8:101", 0 }, { "::127.0.0.1", 0 },
	{ "2002:c0a8:101::", 0 }, { "64:ff9b:1::808:808", 0 },
	{ "127.0.0.2", 1 }, { "::ffff:127.0.0.2", 1 }, { "93.184.216.34", 1 },
	{ "172.32.0.1", 1 }, { "100.128.0.1", 1 }, { "8.8.8.8", 1 },
	{ "2606:4700::1", 1 }, { "::ffff:8.8.8.8", 1 },
	{ "64:ff9b::808:808", 1 }, { "2002:808:808::", 1 },
};

static void
test_addr_allowed(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(addr_cases); i++) {
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
		const struct sockaddr *sa;

		memset(&sin, 0, sizeof(sin));
		memset(&sin6, 0, sizeof(sin6));
		if (inet_pton(AF_INET, addr_cases[i].addr, &sin.sin_addr) == 1) {
			sin.sin_family = AF_INET;
			sin.sin_port = htons(80);
			sa = (const struct sockaddr *)&sin;
		} else {
			assert_int_equal(inet_pton(AF_INET6, addr_cases[i].addr,
			    &sin6.sin6_addr), 1);
			sin6.sin6_family = AF_INET6;
			sin6.sin6_port = htons(443);
			sa = (const struct sockaddr *)&sin6;
		}
		if (mr_preview_addr_allowed(sa, &deny, &allow) !=
		    addr_cases[i].allowed)
			fail_msg("%s: allowed should be %d", addr_cases[i].addr,
			    addr_cases[i].allowed);
	}
}

static void
test_addr_other_family(void **state)
{
	struct sockaddr sa;

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	assert_int_equal(mr_preview_addr_allowed(&sa, &deny, &allow), 0);
	assert_int_equal(mr_preview_addr_allowed(NULL, &deny, &allow), 0);
}

/* --- URL parsing --- */

static const struct {
	const char *url, *scheme, *host;
	int is_ip;
	unsigned port;
	int port_explicit;
	const char *path;
} valid_urls[] = {
	{ "http://example.com", "http", "example.com", 0, 80, 0, "/" },
	{ "https://example.com", "https", "example.com", 0, 443, 0, "/" },
	{ "http://example.com/", "http", "example.com", 0, 80, 0, "/" },
	{ "HTTPS://EXAMPLE.COM/A/B", "https", "example.com", 0, 443, 0,
	    "/A/B" },
	{ "hTtP://Ex-Ample.COM:8080/x?y=Z", "http", "ex-ample.com", 0, 8080,
	    1, "/x?y=Z" },
	{ "http://example.com:80/", "http", "example.com", 0, 80, 1, "/" },
	{ "https://example.com:1/", "https", "example.com", 0, 1, 1, "/" },
	{ "https://example.com:65535/", "https", "example.com", 0, 65535, 1,
	    "/" },
	{ "https://example.com:00443/", "https", "example.com", 0, 443, 1,
	    "/" },
	{ "http://example.com?q=1", "http", "example.com", 0, 80, 0,
	    "/?q=1" },
	{ "http://example.com#frag", "http", "example.com", 0, 80, 0, "/" },
	{ "http://example.com/p?q#f?g#h", "http", "example.com", 0, 80, 0,
	    "/p?q" },
	{ "http://example.com/a#", "http", "example.com", 0, 80, 0, "/a" },
	{ "http://example.com./", "http", "example.com", 0, 80, 0, "/" },
	{ "http://example.com.:8080/", "http", "example.com", 0, 8080, 1,
	    "/" },
	{ "http://a/", "http", "a", 0, 80, 0, "/" },
	{ "http://xn--bcher-kva.example/", "http", "xn--bcher-kva.example", 0,
	    80, 0, "/" },
	{ "http://my_host.example/", "http", "my_host.example", 0, 80, 0,
	    "/" },
	{ "http://3com.com/", "http", "3com.com", 0, 80, 0, "/" },
	{ "http://0x7f.com/", "http", "0x7f.com", 0, 80, 0, "/" },
	{ "http://1.2.3.4.example/", "http", "1.2.3.4.example", 0, 80, 0,
	    "/" },
	{ "http://example.1a/", "http", "example.1a", 0, 80, 0, "/" },
	{ "http://example.com/caf\xc3\xa9?q=\xe2\x82\xac", "http",
	    "example.com", 0, 80, 0, "/caf\xc3\xa9?q=\xe2\x82\xac" },
	{ "http://example.com/%41%zz%", "http", "example.com", 0, 80, 0,
	    "/%41%zz%" },
	{ "http://example.com/a\\b@c:d", "http", "example.com", 0, 80, 0,
	    "/a\\b@c:d" },
	{ "http://example.com//x/../y/./", "http", "example.com", 0, 80, 0,
	    "//x/../y/./" },
	{ "http://1.2.3.4:99/", "http", "1.2.3.4", 4, 99, 1, "/" },
	{ "http://[2001:DB8::A]:8448/_matrix", "http", "2001:db8::a", 6, 8448,
	    1, "/_matrix" },
	{ "http://[2001:0db8:0000::0001]/", "http", "2001:db8::1", 6, 80, 0,
	    "/" },
};

static void
test_parse_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(valid_urls); i++) {
		struct mr_preview_url u;
		struct mr_err err;

		if (mr_preview_parse_url(valid_urls[i].url, &u, &err) != 0)
			fail_msg("%s: %s", valid_urls[i].url, err.msg);
		if (strcmp(u.scheme, valid_urls[i].scheme) != 0 ||
		    strcmp(u.host, valid_urls[i].host) != 0 ||
		    u.host_is_ip != valid_urls[i].is_ip ||
		    u.port != valid_urls[i].port ||
		    u.port_explicit != valid_urls[i].port_explicit ||
		    strcmp(u.path_and_query, valid_urls[i].path) != 0 ||
		    u.username_present != 0)
			fail_msg("%s: got %s %s %d %u %d %s", valid_urls[i].url,
			    u.scheme, u.host, u.host_is_ip, (unsigned)u.port,
			    u.port_explicit, u.path_and_query);
	}
}

static const char *const invalid_urls[] = {
	"", "example.com", "//example.com/", "/path", "http", "http:",
	"http:/", "http://", "http:///x", "http:example.com",
	"http:/example.com", "http:\\\\example.com", "https//example.com",
	"ftp://example.com/", "file:///etc/passwd", "file://localhost/etc",
	"gopher://127.0.0.1:6379/_INFO", "javascript:alert(1)",
	"data:text/html,x", "dict://127.0.0.1:11211/", "ldap://a/",
	"httpx://a/", "http+unix://a/", " http://a/", "mxc://a/b",
	/* ports */
	"http://a:0/", "http://a:99999/", "http://a:65536/", "http://a:/",
	"http://a:-1/", "http://a:+80/", "http://a:8o/", "http://a:0x50/",
	"http://a:123456/", "http://a:80:80/", "http://[::1]:/",
	"http://[::1]x/", "http://[::1]:0/", "http://:80/",
	/* spaces and control characters */
	"http://a b/", "http://a/b c", "http://a/\t", "http://a/\r\nX: y",
	"http://a/\x01", "http://a/\x7f", "http://a/#\x1b", "http://a\n/",
	"http://a/\xff", "http://a/\xc0\xaf", "http://a/\xed\xa0\x80",
	/* userinfo */
	"http://u:p@host/", "http://u@host/", "http://@host/",
	"http://good.example@127.0.0.1/", "http://a:b@[::1]/",
	"http://evil.example\\@127.0.0.1/", "http://a\\b/",
	/* IPv6 */
	"http://[::1%25eth0]/", "http://[fe80::1%eth0]/", "http://[::1/",
	"http://::1/", "http://[]/", "http://[::g]/", "http://[1:2:3:4:5:6:7:8:9]/",
	"http://[v1.x]/", "http://[::ffff:0177.0.0.1]/", "http://[::1]]/",
	"http://[[::1]]/", "http://[127.0.0.1]/",
	/* host names */
	"http://exa%mple.com/", "http://exa%6dple.com/", "http://%31%32%37.0.0.1/",
	"http://b\xc3\xbc" "cher.example/", "http://\xef\xbc\x8e/",
	"http://a..b/", "http://.a/", "http://./", "http://a../",
	"http://exa!mple.com/", "http://exa$mple.com/", "http://a,b/",
	"http://a;b/", "http://a'b/", "http://a\"b/", "http://a<b/",
	"http://a{b/", "http://a|b/", "http://a^b/", "http://a`b/",
	/* numeric last label that is not an IPv4 address */
	"http://1.2.3.256/", "http://256.1.1.1/", "http://1.2.3.4.5/",
	"http://0x/", "http://08/", "http://1.2.3.0x100/", "http://4294967296/",
	"http://0x100000000/", "http://example.123/", "http://example.0x/",
	"http://1.2.3.09/", "http://999999999999999999999999/",
};

static void
test_parse_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(invalid_urls); i++) {
		static const struct mr_preview_url zero;
		struct mr_preview_url u;
		struct mr_err err;

		memset(&u, 0xaa, sizeof(u));
		if (mr_preview_parse_url(invalid_urls[i], &u, &err) != -1)
			fail_msg("accepted '%s' as host '%s'", invalid_urls[i],
			    u.host);
		assert_int_equal(err.status, 400);
		assert_string_equal(err.errcode, "M_INVALID_PARAM");
		assert_memory_equal(&u, &zero, sizeof(u));
	}
}

static void
test_parse_lengths(void **state)
{
	char url[MR_PREVIEW_URL_MAX + 64], label[70];
	struct mr_preview_url u;
	struct mr_err err;
	size_t n;

	(void)state;
	/* exactly the limit parses, one byte more does not */
	n = (size_t)snprintf(url, sizeof(url), "https://example.com/");
	memset(url + n, 'a', MR_PREVIEW_URL_MAX - n);
	url[MR_PREVIEW_URL_MAX] = '\0';
	assert_int_equal(mr_preview_parse_url(url, &u, &err), 0);
	assert_int_equal(strlen(u.path_and_query), MR_PREVIEW_URL_MAX - 19);
	url[MR_PREVIEW_URL_MAX] = 'a';
	url[MR_PREVIEW_URL_MAX + 1] = '\0';
	assert_int_equal(mr_preview_parse_url(url, &u, &err), -1);
	assert_int_equal(mr_preview_parse_url(NULL, &u, &err), -1);

	/* the limit holds for the fetched form: "0" grows to "0.0.0.0" */
	n = (size_t)snprintf(url, sizeof(url), "http://0.0.0.0/");
	memset(url + n, 'a', MR_PREVIEW_URL_MAX - n);
	url[MR_PREVIEW_URL_MAX] = '\0';
	assert_int_equal(mr_preview_parse_url(url, &u, &err), 0);
	n = (size_t)snprintf(url, sizeof(url), "http://0/");
	memset(url + n, 'a', MR_PREVIEW_URL_MAX - n);
	assert_int_equal(mr_preview_parse_url(url, &u, &err), -1);
	assert_string_equal(err.msg, "invalid url: too long");
	/* and each byte >= 0x80 counts as its %XX */
	n = (size_t)snprintf(url, sizeof(url), "https://example.com/");
	for (size_t i = 0; i < 676; i++)	/* 676 * 3 + 20 = 2048 */
		url[n++] = (char)(i % 2 ? 0xa9 : 0xc3);
	url[n] = '\0';
	assert_int_equal(mr_preview_parse_url(url, &u, &err), 0);
	strcpy(url + n, "\xc3\xa9");
	assert_int_equal(mr_preview_parse_url(url, &u, &err), -1);

	/* labels up to 63 bytes, names up to 253 (and a trailing dot) */
	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(url, sizeof(url), "http://%s.example/", label);
	assert_int_equal(mr_preview_parse_url(url, &u, &err), 0);
	snprintf(url, sizeof(url), "http://%sa.example/", label);
	assert_int_equal(mr_preview_parse_url(url, &u, &err), -1);
	snprintf(url, sizeof(url), "http://%s.%s.%s.%.61s/", label, label,
	    label, label);	/* 253 */
	assert_int_equal(mr_preview_parse_url(url, &u, &err), 0);
	assert_int_equal(strlen(u.host), 253);
	snprintf(url, sizeof(url), "http://%s.%s.%s.%.61s./", label, label,
	    label, label);
	assert_int_equal(mr_preview_parse_url(url, &u, &err), 0);
	snprintf(url, sizeof(url), "http://%s.%s.%s.%.62s/", label, label,
	    label, label);
	assert_int_equal(mr_preview_parse_url(url, &u, &err), -1);
}

/* What is fetched is what was checked: format, parse, same answer. */
static void
test_format_round_trip(void **state)
{
	char out[MR_PREVIEW_URL_MAX + 1];
	struct mr_preview_url u, v;
	struct mr_err err;

	(void)state;
	for (size_t i = 0; i < NELEM(valid_urls) + NELEM(ssrf_cases); i++) {
		const char *url = i < NELEM(valid_urls) ? valid_urls[i].url :
		    ssrf_cases[i - NELEM(valid_urls)].url;

		assert_int_equal(mr_preview_parse_url(url, &u, &err), 0);
		assert_true(mr_preview_url_format(&u, out, sizeof(out)) > 0);
		assert_int_equal(mr_preview_parse_url(out, &v, &err), 0);
		assert_string_equal(u.host, v.host);
		assert_int_equal(u.port, v.port);
		assert_int_equal(u.host_is_ip, v.host_is_ip);
		assert_memory_equal(u.ip, v.ip, 16);
	}
	assert_int_equal(mr_preview_parse_url("http://0x7f.1:81/caf\xc3\xa9#x",
	    &u, &err), 0);
	assert_int_equal(mr_preview_url_format(&u, out, sizeof(out)), 29);
	assert_string_equal(out, "http://127.0.0.1:81/caf%C3%A9");
	assert_int_equal(mr_preview_url_format(&u, out, 30), 29);
	assert_int_equal(mr_preview_url_format(&u, out, 29), -1);
	assert_int_equal(mr_preview_url_format(&u, out, 27), -1);
	assert_int_equal(mr_preview_url_format(&u, out, 10), -1);
	assert_int_equal(mr_preview_parse_url("https://[::1]/", &u, &err), 0);
	assert_int_equal(mr_preview_url_format(&u, out, sizeof(out)), 14);
	assert_string_equal(out, "https://[::1]/");
}

/* --- IPv4 spellings, inet_aton as the oracle --- */

static const char *const ipv4_spellings[] = {
	"127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.1", "127.1",
	"0x7f.0.0.01", "0x7f000001", "017700000001", "0X7F.0X0.0.1", "0",
	"00", "0x0", "0.0", "255.255.255.255", "4294967295", "0xffffffff",
	"037777777777", "1.2.3", "1.2.65535", "1.16777215", "1.2.65536",
	"1.16777216", "1.2.3.4.5", "256.1.1.1", "1.256.1.1", "1.2.256.1",
	"1.2.3.256", "0x", "0x.1", "08", "09.1", "1.2.3.0x100", "1.2.3.0xff",
	"4294967296", "0x100000000", "040000000000", "99999999999999999999",
	"1..2", ".1.2.3", "1.2.3.", "1.2.3.4.", "", "a.b.c.d", "-1.2.3.4",
	"+1.2.3.4", "1.-2.3.4", "0x1g", "1.2.3.4x", "0xx1", "1e3", "1,2,3,4",
	"0000000000000000000000000000000000000000177.1",
	"0x00000000000000000000000000000007f.1", "01.02.03.04", "0.0.0.0",
	"012.034.056.078", "0xa.0xb.0xc.0xd", "3232235777", "1.0x7fffff",
};

static void
test_ipv4_vs_inet_aton(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(ipv4_spellings); i++) {
		struct in_addr want;
		uint8_t got[4];
		int ok = inet_aton(ipv4_spellings[i], &want) != 0;
		int rc = mr_preview_parse_ipv4_any(ipv4_spellings[i], got);

		if (ok != (rc == 0))
			fail_msg("'%s': inet_aton %d, ours %d", ipv4_spellings[i],
			    ok, rc);
		if (ok)
			assert_memory_equal(got, &want, 4);
		else
			assert_int_equal(got[0] | got[1] | got[2] | got[3], 0);
	}
}

/* The one documented difference: nothing may follow, not even a space. */
static void
test_ipv4_whole_string(void **state)
{
	static const char *const trailing[] = {
		"1.2.3.4 ", "1.2.3.4 junk", "127.1\t", "0x7f.1\n",
	};
	uint8_t got[4];
	struct in_addr a;

	(void)state;
	for (size_t i = 0; i < NELEM(trailing); i++) {
		assert_int_not_equal(inet_aton(trailing[i], &a), 0);
		assert_int_equal(mr_preview_parse_ipv4_any(trailing[i], got), -1);
	}
	assert_int_equal(mr_preview_parse_ipv4_any(NULL, got), -1);
}

/* --- rules and globs --- */

static const struct {
	const char *glob, *s;
	int nocase, match;
} globs[] = {
	{ "", "", 0, 1 }, { "", "a", 0, 0 }, { "*", "", 0, 1 },
	{ "*", "anything.at/all", 0, 1 }, { "?", "", 0, 0 }, { "?", "a", 0, 1 },
	{ "?", "ab", 0, 0 }, { "a", "A", 0, 0 }, { "a", "A", 1, 1 },
	{ "*.internal.example", "a.internal.example", 1, 1 },
	{ "*.internal.example", "a.b.INTERNAL.example", 1, 1 },
	{ "*.internal.example", "internal.example", 1, 0 },
	{ "*.internal.example", "a.internal.example.com", 1, 0 },
	{ "*.internal.example", "ainternal.example", 1, 0 },
	{ "/admin*", "/admin", 0, 1 }, { "/admin*", "/administrator/x", 0, 1 },
	{ "/admin*", "/Admin", 0, 0 }, { "/admin*", "/x/admin", 0, 0 },
	{ "*/admin*", "/x/admin", 0, 1 }, { "a*b*c", "abc", 0, 1 },
	{ "a*b*c", "aXbYc", 0, 1 }, { "a*b*c", "acb", 0, 0 },
	{ "a*b*c", "abcbc", 0, 1 }, { "a*b*c", "abcb", 0, 0 },
	{ "**", "x", 0, 1 }, { "*?", "", 0, 0 }, { "*?", "x", 0, 1 },
	{ "?*?", "x", 0, 0 }, { "?*?", "xy", 0, 1 }, { "a?c", "abc", 0, 1 },
	{ "a?c", "ac", 0, 0 }, { "*a", "bbbba", 0, 1 }, { "*a", "bbbab", 0, 0 },
	{ "192.168.*", "192.168.1.1", 0, 1 }, { "*:*", "::1", 0, 1 },
	{ "a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", 0,
	    0 },
	{ "a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", 0,
	    1 },
};

static void
test_glob_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(globs); i++)
		if (mr_preview_glob_match(globs[i].glob, globs[i].s,
		    globs[i].nocase) != globs[i].match)
			fail_msg("'%s' vs '%s'", globs[i].glob, globs[i].s);
}

/* The worst the limits allow: a 255-byte glob against a 4 KB path. */
static void
test_glob_pathological_time(void **state)
{
	char glob[MR_PREVIEW_GLOB_MAX], s[4096];
	struct timespec t0, t1;
	double ms;

	(void)state;
	for (size_t i = 0; i + 1 < sizeof(glob); i++)
		glob[i] = i % 2 ? '*' : 'a';
	glob[sizeof(glob) - 2] = 'b';
	glob[sizeof(glob) - 1] = '\0';
	memset(s, 'a', sizeof(s) - 2);
	s[sizeof(s) - 2] = 'c';
	s[sizeof(s) - 1] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(mr_preview_glob_match(glob, s, 1), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	/* about 1M steps each; a recursive matcher would never finish */
	if (ms > 2000)
		fail_msg("glob took %.0f ms", ms);
}

#define RULES \
	"host=*.internal.example, scheme=http, port=22, " \
	"host=evil.com path=/admin*"

static const struct {
	const char *url;
	int blocked;
} rule_cases[] = {
	{ "http://example.com/", 1 },			/* scheme=http */
	{ "HTTP://example.com/", 1 },
	{ "https://example.com/", 0 },
	{ "https://a.internal.example/", 1 },
	{ "https://A.B.Internal.Example./x", 1 },
	{ "https://internal.example/", 0 },
	{ "https://example.com:22/", 1 },
	{ "https://example.com:2222/", 0 },
	{ "https://evil.com/admin", 1 },
	{ "https://EVIL.com/admin/panel?x=1", 1 },
	{ "https://evil.com/%61dmin", 1 },		/* unreserved escape */
	{ "https://evil.com/%2561dmin", 0 },		/* "%61dmin" literally */
	{ "https://evil.com/x/../admin", 1 },
	{ "https://evil.com/%2e%2E/admin", 1 },
	{ "https://evil.com/./admin", 1 },
	{ "https://evil.com/a/b/../../admin", 1 },
	{ "https://evil.com/../../admin", 1 },
	{ "https://evil.com/admin/..", 0 },		/* that is "/" */
	{ "https://evil.com/adminx/../admin", 1 },
	{ "https://evil.com/", 0 },
	{ "https://evil.com/x?p=/admin", 0 },		/* query not path */
	{ "https://evil.com/Admin", 0 },		/* path is case-sensitive */
	{ "https://evil.com./admin", 1 },
	{ "https://sub.evil.com/admin", 0 },
	{ "https://evil.com:8443/admin", 1 },
};

static void
test_rules_match(void **state)
{
	struct mr_preview_url_rules *rules = malloc(mr_preview_url_rules_size());

	(void)state;
	assert_non_null(rules);
	assert_int_equal(mr_preview_url_rules_size(), sizeof(*rules));
	assert_int_equal(mr_preview_parse_url_rules(RULES, rules), 0);
	assert_int_equal(rules->n, 4);
	for (size_t i = 0; i < NELEM(rule_cases); i++) {
		struct mr_preview_url u;
		struct mr_err err;

		if (mr_preview_parse_url(rule_cases[i].url, &u, &err) != 0)
			fail_msg("%s: %s", rule_cases[i].url, err.msg);
		if (mr_preview_url_blocked(&u, rules) != rule_cases[i].blocked)
			fail_msg("%s: blocked should be %d", rule_cases[i].url,
			    rule_cases[i].blocked);
	}
	free(rules);
}

/* A literal's canonical host is what host= sees, whatever its spelling. */
static void
test_rules_ip_host(void **state)
{
	static const char *const urls[] = {
		"http://127.0.0.1/", "http://2130706433/", "http://0x7f.1/",
		"http://[::ffff:7f00:1]/", "http://[::1]/",
	};
	struct mr_preview_url_rules *rules = malloc(sizeof(*rules));
	struct mr_preview_url u;
	struct mr_err err;

	(void)state;
	assert_non_null(rules);
	assert_int_equal(mr_preview_parse_url_rules(
	    "host=127.0.0.1,host=*127.0.0.1 ,\thost=::1", rules), 0);
	for (size_t i = 0; i < NELEM(urls); i++) {
		assert_int_equal(mr_preview_parse_url(urls[i], &u, &err), 0);
		if (!mr_preview_url_blocked(&u, rules))
			fail_msg("%s not blocked", urls[i]);
	}
	assert_int_equal(mr_preview_parse_url("http://127.0.0.2/", &u, &err),
	    0);
	assert_int_equal(mr_preview_url_blocked(&u, rules), 0);
	assert_int_equal(mr_preview_url_blocked(&u, NULL), 0);
	free(rules);
}

static void
test_rules_syntax(void **state)
{
	static const char *const goods[] = {
		"", " ", ",", " , ,, ", "host=a", "host=a,", ",host=a",
		"scheme=h* host=* port=1 path=/", "port=65535", "port=00022",
		"host=a\tpath=/b", "path=/*?*",
	};
	static const char *const bads[] = {
		"host", "host=", "=a", "Host=a", "hostname=a", "netloc=a",
		"host=a host=b", "port=0", "port=65536", "port=-1", "port=x",
		"port=22x", "port=1234567", "port= 22", "query=a", "host=a b",
		"host=\x01", "host=\xc3\xa9", "host=a,port=", "port=+22",
	};
	struct mr_preview_url_rules *rules = malloc(sizeof(*rules));
	char text[40000];
	size_t n = 0;

	(void)state;
	assert_non_null(rules);
	for (size_t i = 0; i < NELEM(goods); i++)
		if (mr_preview_parse_url_rules(goods[i], rules) != 0)
			fail_msg("refused '%s'", goods[i]);
	assert_int_equal(mr_preview_parse_url_rules(NULL, rules), 0);
	assert_int_equal(rules->n, 0);
	assert_int_equal(mr_preview_parse_url_rules(" , ,, ", rules), 0);
	assert_int_equal(rules->n, 0);	/* empty rules never match all */
	for (size_t i = 0; i < NELEM(bads); i++) {
		if (mr_preview_parse_url_rules(bads[i], rules) != -1)
			fail_msg("accepted '%s'", bads[i]);
		assert_int_equal(rules->n, 0);
	}
	/* 64 rules fit, 65 do not */
	for (int i = 0; i < MR_PREVIEW_RULES_MAX; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "host=h%d,", i);
	assert_int_equal(mr_preview_parse_url_rules(text, rules), 0);
	assert_int_equal(rules->n, MR_PREVIEW_RULES_MAX);
	snprintf(text + n, sizeof(text) - n, "host=one-more");
	assert_int_equal(mr_preview_parse_url_rules(text, rules), -1);
	/* a glob of 255 bytes fits, 256 do not */
	memcpy(text, "path=", 5);
	memset(text + 5, '*', MR_PREVIEW_GLOB_MAX - 1);
	text[5 + MR_PREVIEW_GLOB_MAX - 1] = '\0';
	assert_int_equal(mr_preview_parse_url_rules(text, rules), 0);
	text[5 + MR_PREVIEW_GLOB_MAX - 2] = '\0';
	assert_int_equal(mr_preview_parse_url_rules(text, rules), 0);
	memset(text + 5, '*', MR_PREVIEW_GLOB_MAX);
	text[5 + MR_PREVIEW_GLOB_MAX] = '\0';
	assert_int_equal(mr_preview_parse_url_rules(text, rules), -1);
	free(rules);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ssrf_table),
		cmocka_unit_test(test_ssrf_ip_bytes),
		cmocka_unit_test(test_always_blocked),
		cmocka_unit_test(test_addr_allowed),
		cmocka_unit_test(test_addr_other_family),
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_parse_lengths),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_ipv4_vs_inet_aton),
		cmocka_unit_test(test_ipv4_whole_string),
		cmocka_unit_test(test_glob_table),
		cmocka_unit_test(test_glob_pathological_time),
		cmocka_unit_test(test_rules_match),
		cmocka_unit_test(test_rules_ip_host),
		cmocka_unit_test(test_rules_syntax),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
