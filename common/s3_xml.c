/*
 * s3_xml: reading S3's XML answers (see s3_xml.h).
 */
#include "s3_xml.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "util.h"

/*
 * No network, no entity substitution (no NOENT: entities stay references,
 * so no expansion bombs), no DTD loading, and libxml2's own size guards
 * kept (no HUGE). Errors are ours to report, not libxml2's to print.
 */
#define S3_XML_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | \
	XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

static xmlDocPtr
s3_xml_read(const char *xml, size_t len)
{
	xmlDocPtr doc;

	if (xml == NULL || len == 0 || len > MR_S3_XML_MAX)
		return NULL;
	doc = xmlReadMemory(xml, (int)len, "s3.xml", NULL, S3_XML_OPTS);
	/*
	 * S3 answers never declare a DTD. One that does could define
	 * entities, which reading an element's text would expand: refused.
	 */
	if (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL)) {
		xmlFreeDoc(doc);
		doc = NULL;
	}
	return doc;
}

static int
s3_xml_is(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE &&
	    strcmp((const char *)n->name, name) == 0;
}

/* The first child element called name, or NULL. */
static xmlNodePtr
s3_xml_child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = parent->children; c != NULL; c = c->next)
		if (s3_xml_is(c, name))
			return c;
	return NULL;
}

/* The text of an element into out; -1 when it does not fit. */
static int
s3_xml_text(xmlNodePtr n, char *out, size_t outsz)
{
	xmlChar *t = xmlNodeGetContent(n);
	size_t len;
	int rc = -1;

	if (t == NULL)
		return -1;
	len = strlen((const char *)t);
	if (len < outsz) {
		memcpy(out, t, len + 1);
		rc = 0;
	}
	xmlFree(t);
	return rc;
}

static int
s3_xml_child_text(xmlNodePtr parent, const char *name, char *out,
    size_t outsz)
{
	xmlNodePtr c = s3_xml_child(parent, name);

	return c == NULL ? -1 : s3_xml_text(c, out, outsz);
}

/* Two to four digits at s as a number; -1 when not digits. */
static int
s3_xml_digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
mr_s3_parse_time(const char *s, int64_t *ms)
{
	struct tm tm;
	int frac = 0, digits = 0;
	const char *p;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	tm.tm_year = s3_xml_digits(s, 4) - 1900;
	tm.tm_mon = s3_xml_digits(s + 5, 2) - 1;
	tm.tm_mday = s3_xml_digits(s + 8, 2);
	tm.tm_hour = s3_xml_digits(s + 11, 2);
	tm.tm_min = s3_xml_digits(s + 14, 2);
	tm.tm_sec = s3_xml_digits(s + 17, 2);
	if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mon > 11 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 ||
	    tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
	    tm.tm_sec < 0 || tm.tm_sec > 60)
		return -1;
	p = s + 19;
	if (*p == '.') {
		/* Milliseconds from the first three digits; more are ignored. */
		for (p++; isdigit((unsigned char)*p); p++, digits++)
			if (digits < 3)
				frac = frac * 10 + (*p - '0');
		if (digits == 0)
			return -1;
		for (; digits < 3; digits++)
			frac *= 10;
	}
	if (strcmp(p, "Z") != 0)
		return -1;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*ms = (int64_t)t * 1000 + frac;
	return 0;
}

/* One <Contents>: key and size required, the time when readable. */
static int
s3_xml_object(xmlNodePtr c, struct mr_s3_object *o)
{
	char num[32], when[64];

	if (s3_xml_child_text(c, "Key", o->key, sizeof(o->key)) < 0 ||
	    o->key[0] == '\0' ||
	    s3_xml_child_text(c, "Size", num, sizeof(num)) < 0 ||
	    mr_parse_int64(num, 0, INT64_MAX, &o->size) < 0)
		return -1;
	o->mtime_ms = 0;
	if (s3_xml_child_text(c, "LastModified", when, sizeof(when)) == 0 &&
	    mr_s3_parse_time(when, &o->mtime_ms) < 0)
		o->mtime_ms = 0;
	return 0;
}

/*
 * One page of a listing: the document when its root is root_name (the
 * caller frees it), with the root and whether more pages follow.
 */
static xmlDocPtr
s3_xml_page(const char *xml, size_t len, const char *root_name,
    xmlNodePtr *root, int *truncated)
{
	xmlDocPtr doc = s3_xml_read(xml, len);
	char flag[16];

	if (doc == NULL)
		return NULL;
	*root = xmlDocGetRootElement(doc);
	if (*root == NULL || !s3_xml_is(*root, root_name)) {
		xmlFreeDoc(doc);
		return NULL;
	}
	*truncated = s3_xml_child_text(*root, "IsTruncated", flag,
	    sizeof(flag)) == 0 && strcmp(flag, "true") == 0;
	return doc;
}

int
mr_s3_xml_list(const char *xml, size_t len, mr_s3_object_fn fn, void *arg,
    struct mr_s3_list_page *page)
{
	xmlNodePtr root;
	xmlDocPtr doc;
	struct mr_s3_object o;
	int rc = -1;

	memset(page, 0, sizeof(*page));
	if ((doc = s3_xml_page(xml, len, "ListBucketResult", &root,
	    &page->truncated)) == NULL)
		return -1;
	if (page->truncated && (s3_xml_child_text(root,
	    "NextContinuationToken", page->next_token,
	    sizeof(page->next_token)) < 0 || page->next_token[0] == '\0'))
		goto done;
	for (xmlNodePtr c = root->children; c != NULL; c = c->next) {
		if (!s3_xml_is(c, "Contents"))
			continue;
		if (s3_xml_object(c, &o) < 0)
			goto done;
		page->count++;
		if (fn != NULL && fn(&o, arg) < 0) {
			page->stopped = 1;
			break;
		}
	}
	rc = 0;
done:
	xmlFreeDoc(doc);
	return rc;
}

/* The text of root's child element, when the document's root is root. */
static int
s3_xml_root_child(const char *xml, size_t len, const char *root,
    const char *child, char *out, size_t outsz)
{
	xmlDocPtr doc = s3_xml_read(xml, len);
	xmlNodePtr r;
	int rc = -1;

	if (doc == NULL)
		return -1;
	r = xmlDocGetRootElement(doc);
	if (r != NULL && s3_xml_is(r, root) &&
	    s3_xml_child_text(r, child, out, outsz) == 0)
		rc = 0;
	xmlFreeDoc(doc);
	return rc;
}

int
mr_s3_xml_upload_id(const char *xml, size_t len, char *out, size_t outsz)
{
	if (s3_xml_root_child(xml, len, "InitiateMultipartUploadResult",
	    "UploadId", out, outsz) < 0 || out[0] == '\0')
		return -1;
	return 0;
}

int
mr_s3_xml_root_is(const char *xml, size_t len, const char *name)
{
	xmlDocPtr doc = s3_xml_read(xml, len);
	xmlNodePtr root;
	int rc;

	if (doc == NULL)
		return -1;
	root = xmlDocGetRootElement(doc);
	rc = root != NULL && s3_xml_is(root, name);
	xmlFreeDoc(doc);
	return rc;
}

int
mr_s3_xml_error_code(const char *xml, size_t len, char *out, size_t outsz)
{
	return s3_xml_root_child(xml, len, "Error", "Code", out, outsz);
}

/* One <Upload>: key and id required, the time when readable. */
static int
s3_xml_upload(xmlNodePtr c, struct mr_s3_upload *u)
{
	char when[64];

	if (s3_xml_child_text(c, "Key", u->key, sizeof(u->key)) < 0 ||
	    u->key[0] == '\0' ||
	    s3_xml_child_text(c, "UploadId", u->upload_id,
	    sizeof(u->upload_id)) < 0 || u->upload_id[0] == '\0')
		return -1;
	/* Before 1970 is no time an upload began: unknown too. */
	if (s3_xml_child_text(c, "Initiated", when, sizeof(when)) < 0 ||
	    mr_s3_parse_time(when, &u->initiated_ms) < 0 ||
	    u->initiated_ms < 0)
		u->initiated_ms = -1;
	return 0;
}

int
mr_s3_xml_uploads(const char *xml, size_t len, mr_s3_upload_fn fn,
    void *arg, struct mr_s3_uploads_page *page)
{
	xmlNodePtr root;
	xmlDocPtr doc;
	struct mr_s3_upload u;
	int rc = -1;

	memset(page, 0, sizeof(*page));
	if ((doc = s3_xml_page(xml, len, "ListMultipartUploadsResult", &root,
	    &page->truncated)) == NULL)
		return -1;
	/*
	 * The next page starts after NextKeyMarker (and, within that key,
	 * after NextUploadIdMarker, which some servers leave out).
	 */
	if (page->truncated && (s3_xml_child_text(root, "NextKeyMarker",
	    page->next_key, sizeof(page->next_key)) < 0 ||
	    page->next_key[0] == '\0'))
		goto done;
	if (page->truncated && s3_xml_child(root, "NextUploadIdMarker") !=
	    NULL && s3_xml_child_text(root, "NextUploadIdMarker",
	    page->next_id, sizeof(page->next_id)) < 0)
		goto done;
	/*
	 * The whole page is checked before fn sees any of it: what fn does
	 * (abort uploads) is not done on the strength of a broken answer.
	 */
	for (int pass = 0; pass < 2; pass++) {
		for (xmlNodePtr c = root->children; c != NULL; c = c->next) {
			if (!s3_xml_is(c, "Upload"))
				continue;
			if (s3_xml_upload(c, &u) < 0)
				goto done;
			if (pass == 0)
				continue;
			page->count++;
			if (fn != NULL && fn(&u, arg) < 0) {
				page->stopped = 1;
				break;
			}
		}
	}
	rc = 0;
done:
	if (rc < 0)
		memset(page, 0, sizeof(*page));
	xmlFreeDoc(doc);
	return rc;
}
