/* UEFI structures in event logs (see efi.h). */
#include "efi.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "reader.h"
#include "textbuf.h"

/* GUIDs are stored as u32 LE, u16 LE, u16 LE, 8 bytes. */
const uint8_t EFI_GLOBAL_VARIABLE_GUID[EFI_GUID_SIZE] = {
    0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c};
const uint8_t EFI_IMAGE_SECURITY_DATABASE_GUID[EFI_GUID_SIZE] = {
    0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45, 0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f};
const uint8_t EFI_SHIM_LOCK_GUID[EFI_GUID_SIZE] = {0x50, 0xab, 0x5d, 0x60, 0x46, 0xe0, 0x00, 0x43,
                                                   0xab, 0xb6, 0x3d, 0xd8, 0x10, 0xdd, 0x8b, 0x23};

struct guid_name {
	uint8_t guid[EFI_GUID_SIZE];
	const char *name;
};

static const struct guid_name guid_names[] = {
    {{0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b,
      0x8c},
     "EFI_GLOBAL_VARIABLE"},
    {{0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45, 0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65,
      0x6f},
     "EFI_IMAGE_SECURITY_DATABASE"},
    {{0x50, 0xab, 0x5d, 0x60, 0x46, 0xe0, 0x00, 0x43, 0xab, 0xb6, 0x3d, 0xd8, 0x10, 0xdd, 0x8b,
      0x23},
     "SHIM_LOCK"},
    /* a5c059a1-94e4-4aa7-87b5-ab155c2bf072 */
    {{0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a, 0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0,
      0x72},
     "EFI_CERT_X509"},
    /* c1c41626-504c-4092-aca9-41f936934328 */
    {{0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40, 0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43,
      0x28},
     "EFI_CERT_SHA256"},
    /* 3c5766e8-269c-4e34-aa14-ed776e85b3b6 */
    {{0xe8, 0x66, 0x57, 0x3c, 0x9c, 0x26, 0x34, 0x4e, 0xaa, 0x14, 0xed, 0x77, 0x6e, 0x85, 0xb3,
      0xb6},
     "EFI_CERT_RSA2048"},
    /* 77fa9abd-0359-4d32-bd60-28f4e78f784b: Microsoft as signature owner */
    {{0xbd, 0x9a, 0xfa, 0x77, 0x59, 0x03, 0x32, 0x4d, 0xbd, 0x60, 0x28, 0xf4, 0xe7, 0x8f, 0x78,
      0x4b},
     "MICROSOFT"},
};

void efi_guid_format(const uint8_t g[EFI_GUID_SIZE], char out[EFI_GUID_STR_LEN + 1])
{
	static const char hexd[] = "0123456789abcdef";
	/* Byte order of each character pair in the text form. */
	static const uint8_t order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
	size_t o = 0;
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hexd[g[order[i]] >> 4];
		out[o++] = hexd[g[order[i]] & 15];
	}
	out[o] = '\0';
}

const char *efi_guid_name(const uint8_t g[EFI_GUID_SIZE])
{
	for (size_t i = 0; i < sizeof guid_names / sizeof guid_names[0]; i++)
		if (!memcmp(guid_names[i].guid, g, EFI_GUID_SIZE))
			return guid_names[i].name;
	return NULL;
}

static size_t utf8_put(uint32_t cp, char tmp[4])
{
	if (cp < 0x80) {
		tmp[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		tmp[0] = (char)(0xC0 | cp >> 6);
		tmp[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		tmp[0] = (char)(0xE0 | cp >> 12);
		tmp[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		tmp[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	tmp[0] = (char)(0xF0 | cp >> 18);
	tmp[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	tmp[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	tmp[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

int efi_utf16le_to_utf8(const uint8_t *in, size_t n_units, bool stop_at_nul, char *out, size_t cap,
                        size_t *ret_len)
{
	size_t o = 0;
	int e = 0;
	if (cap == 0)
		return ATTEST_E_LIMIT;
	for (size_t i = 0; i < n_units; i++) {
		uint32_t u = (uint32_t)in[2 * i] | (uint32_t)in[2 * i + 1] << 8;
		if (u == 0 && stop_at_nul)
			break;
		uint32_t cp = u;
		if (u >= 0xD800 && u <= 0xDBFF) {
			uint32_t lo = 0;
			if (i + 1 < n_units)
				lo = (uint32_t)in[2 * i + 2] | (uint32_t)in[2 * i + 3] << 8;
			if (lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
				i++;
			} else {
				cp = 0xFFFD;
			}
		} else if (u >= 0xDC00 && u <= 0xDFFF) {
			cp = 0xFFFD;
		}
		char tmp[4];
		size_t n = utf8_put(cp, tmp);
		if (cap - 1 - o < n) {
			e = ATTEST_E_LIMIT;
			break;
		}
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
	if (ret_len)
		*ret_len = o;
	return e;
}

int efi_variable_data_parse(const uint8_t *buf, size_t len, struct efi_variable_data *ret)
{
	struct reader r;
	struct efi_variable_data v;
	uint64_t name_units, data_len;
	reader_init(&r, buf, len);
	if (reader_bytes(&r, EFI_GUID_SIZE, &v.guid) < 0 || reader_u64le(&r, &name_units) < 0 ||
	    reader_u64le(&r, &data_len) < 0)
		return ATTEST_E_TRUNCATED;
	/* Compare against what is left before multiplying, so nothing wraps. */
	if (name_units > reader_left(&r) / 2)
		return ATTEST_E_TRUNCATED;
	v.name_units = (size_t)name_units;
	if (reader_bytes(&r, v.name_units * 2, &v.name) < 0)
		return ATTEST_E_TRUNCATED;
	if (data_len > reader_left(&r))
		return ATTEST_E_TRUNCATED;
	v.data_len = (size_t)data_len;
	if (reader_bytes(&r, v.data_len, &v.data) < 0)
		return ATTEST_E_TRUNCATED;
	v.trailing = reader_left(&r);
	*ret = v;
	return 0;
}

bool efi_variable_is(const struct efi_variable_data *v, const uint8_t guid[EFI_GUID_SIZE],
                     const char *name)
{
	if (memcmp(v->guid, guid, EFI_GUID_SIZE) != 0)
		return false;
	size_t n = strlen(name);
	size_t units = v->name_units;
	/* Some firmware counts a terminating NUL in the name length. */
	if (units == n + 1 && v->name[2 * n] == 0 && v->name[2 * n + 1] == 0)
		units = n;
	if (units != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v->name[2 * i] != (uint8_t)name[i] || v->name[2 * i + 1] != 0)
			return false;
	return true;
}

/* EFI_SIGNATURE_LIST header: SignatureType GUID, ListSize, HeaderSize,
 * SignatureSize (u32 LE each). */
#define SIGLIST_HEADER 28u

int efi_signature_db_walk(const uint8_t *buf, size_t len, efi_signature_fn fn, void *ctx)
{
	struct reader r;
	reader_init(&r, buf, len);
	uint32_t lists = 0;
	while (reader_left(&r) > 0) {
		if (lists >= EFI_MAX_SIGLISTS)
			return ATTEST_E_LIMIT;
		const uint8_t *type;
		uint32_t list_size, header_size, sig_size;
		if (reader_bytes(&r, EFI_GUID_SIZE, &type) < 0 ||
		    reader_u32le(&r, &list_size) < 0 || reader_u32le(&r, &header_size) < 0 ||
		    reader_u32le(&r, &sig_size) < 0)
			return ATTEST_E_TRUNCATED;
		if (list_size < SIGLIST_HEADER)
			return ATTEST_E_FORMAT;
		struct reader body;
		if (reader_sub(&r, list_size - SIGLIST_HEADER, &body) < 0)
			return ATTEST_E_TRUNCATED;
		if (reader_skip(&body, header_size) < 0)
			return ATTEST_E_FORMAT;
		if (sig_size < EFI_GUID_SIZE || reader_left(&body) % sig_size != 0)
			return ATTEST_E_FORMAT;
		while (reader_left(&body) > 0) {
			const uint8_t *sig;
			if (reader_bytes(&body, sig_size, &sig) < 0)
				return ATTEST_E_FORMAT;
			if (fn) {
				int e = fn(ctx, type, sig, sig + EFI_GUID_SIZE,
				           sig_size - EFI_GUID_SIZE);
				if (e)
					return e;
			}
		}
		lists++;
	}
	return 0;
}

static int count_one(void *ctx, const uint8_t *type, const uint8_t *owner, const uint8_t *data,
                     size_t len)
{
	(*(uint32_t *)ctx)++;
	return 0;
}

int efi_signature_db_count(const uint8_t *buf, size_t len, uint32_t *ret_lists,
                           uint32_t *ret_entries)
{
	uint32_t entries = 0;
	int e = efi_signature_db_walk(buf, len, count_one, &entries);
	if (e < 0)
		return e;
	/* Second, cheap pass for the list count (the walk validated it). */
	struct reader r;
	uint32_t lists = 0;
	reader_init(&r, buf, len);
	while (reader_left(&r) > 0) {
		uint32_t list_size;
		if (reader_skip(&r, EFI_GUID_SIZE) < 0 || reader_u32le(&r, &list_size) < 0 ||
		    reader_skip(&r, list_size - EFI_GUID_SIZE - 4) < 0)
			return ATTEST_E_FORMAT;
		lists++;
	}
	if (ret_lists)
		*ret_lists = lists;
	if (ret_entries)
		*ret_entries = entries;
	return 0;
}

/* ---- device paths ---- */

static void text_hex(struct textbuf *t, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && !t->cut; i++)
		textbuf_add(t, "%02x", p[i]);
}

static void text_guid(struct textbuf *t, const uint8_t *g)
{
	char s[EFI_GUID_STR_LEN + 1];
	efi_guid_format(g, s);
	textbuf_add(t, "%s", s);
}

/* UTF-16 text of a node body (FilePath, URI is ASCII). */
static void text_utf16(struct textbuf *t, const uint8_t *p, size_t nbytes)
{
	char tmp[256];
	size_t units = nbytes / 2;
	size_t done = 0;
	/* Convert in chunks so a long path does not need a large buffer. */
	while (done < units && !t->cut) {
		size_t chunk = units - done;
		if (chunk > 80)
			chunk = 80;
		/* Do not split a surrogate pair across chunks. */
		if (chunk < units - done) {
			uint32_t last = (uint32_t)p[2 * (done + chunk - 1)] |
			                (uint32_t)p[2 * (done + chunk - 1) + 1] << 8;
			if (last >= 0xD800 && last <= 0xDBFF)
				chunk--;
		}
		size_t before = done;
		bool stop = false;
		for (size_t i = 0; i < chunk; i++)
			if (p[2 * (done + i)] == 0 && p[2 * (done + i) + 1] == 0) {
				chunk = i;
				stop = true;
				break;
			}
		efi_utf16le_to_utf8(p + 2 * done, chunk, false, tmp, sizeof tmp, NULL);
		textbuf_add(t, "%s", tmp);
		done += chunk;
		if (stop || done == before)
			break;
	}
}

/* Rendering of one node's body (after the 4-byte header) into t. */
static void render_node(struct textbuf *t, uint8_t type, uint8_t sub, struct reader *b)
{
	const uint8_t *p = b->buf + b->off;
	size_t n = reader_left(b);
	uint8_t u8a, u8b;
	uint16_t u16a, u16b, u16c;
	uint32_t u32a, u32b;
	uint64_t u64a, u64b;
	const uint8_t *g;

	switch (type << 8 | sub) {
	case 0x0101: /* PCI */
		if (n == 2 && !reader_u8(b, &u8a) && !reader_u8(b, &u8b)) {
			textbuf_add(t, "Pci(0x%x,0x%x)", u8b, u8a);
			return;
		}
		break;
	case 0x0103: /* memory mapped */
		if (n == 20 && !reader_u32le(b, &u32a) && !reader_u64le(b, &u64a) &&
		    !reader_u64le(b, &u64b)) {
			textbuf_add(t, "MemoryMapped(0x%x,0x%llx,0x%llx)", u32a,
			            (unsigned long long)u64a, (unsigned long long)u64b);
			return;
		}
		break;
	case 0x0104: /* vendor hardware */
	case 0x030A: /* vendor messaging */
	case 0x0403: /* vendor media */
		if (n >= 16 && !reader_bytes(b, 16, &g)) {
			textbuf_add(t, "%s(",
			            type == 1   ? "VenHw"
			            : type == 3 ? "VenMsg"
			                        : "VenMedia");
			text_guid(t, g);
			if (reader_left(b)) {
				textbuf_add(t, ",");
				text_hex(t, b->buf + b->off, reader_left(b));
			}
			textbuf_add(t, ")");
			return;
		}
		break;
	case 0x0105: /* controller */
		if (n == 4 && !reader_u32le(b, &u32a)) {
			textbuf_add(t, "Ctrl(0x%x)", u32a);
			return;
		}
		break;
	case 0x0201: /* ACPI */
		if (n == 8 && !reader_u32le(b, &u32a) && !reader_u32le(b, &u32b)) {
			if (u32a == 0x0A0341D0)
				textbuf_add(t, "PciRoot(0x%x)", u32b);
			else if (u32a == 0x0A0841D0)
				textbuf_add(t, "PcieRoot(0x%x)", u32b);
			else if ((u32a & 0xFFFF) == 0x41D0)
				textbuf_add(t, "Acpi(PNP%04X,0x%x)", u32a >> 16, u32b);
			else
				textbuf_add(t, "Acpi(0x%08x,0x%x)", u32a, u32b);
			return;
		}
		break;
	case 0x0301: /* ATAPI */
		if (n == 4 && !reader_u8(b, &u8a) && !reader_u8(b, &u8b) &&
		    !reader_u16le(b, &u16a)) {
			textbuf_add(t, "Ata(%s,%s,0x%x)", u8a ? "Secondary" : "Primary",
			            u8b ? "Slave" : "Master", u16a);
			return;
		}
		break;
	case 0x0302: /* SCSI */
		if (n == 4 && !reader_u16le(b, &u16a) && !reader_u16le(b, &u16b)) {
			textbuf_add(t, "Scsi(0x%x,0x%x)", u16a, u16b);
			return;
		}
		break;
	case 0x0305: /* USB */
		if (n == 2 && !reader_u8(b, &u8a) && !reader_u8(b, &u8b)) {
			textbuf_add(t, "USB(0x%x,0x%x)", u8a, u8b);
			return;
		}
		break;
	case 0x030B: /* MAC */
		if (n == 33) {
			textbuf_add(t, "MAC(");
			text_hex(t, p, 6);
			textbuf_add(t, ",0x%x)", p[32]);
			return;
		}
		break;
	case 0x030C: /* IPv4 */
		if (n >= 19) {
			textbuf_add(t, "IPv4(%u.%u.%u.%u,%u.%u.%u.%u)", p[4], p[5], p[6], p[7],
			            p[0], p[1], p[2], p[3]);
			return;
		}
		break;
	case 0x030D: /* IPv6 */
		if (n >= 36) {
			textbuf_add(t, "IPv6(");
			for (int i = 16; i < 32; i += 2)
				textbuf_add(t, "%s%x", i > 16 ? ":" : "", p[i] << 8 | p[i + 1]);
			textbuf_add(t, ")");
			return;
		}
		break;
	case 0x0312: /* SATA */
		if (n == 6 && !reader_u16le(b, &u16a) && !reader_u16le(b, &u16b) &&
		    !reader_u16le(b, &u16c)) {
			textbuf_add(t, "Sata(0x%x,0x%x,0x%x)", u16a, u16b, u16c);
			return;
		}
		break;
	case 0x0317: /* NVMe namespace */
		if (n == 12 && !reader_u32le(b, &u32a)) {
			textbuf_add(t, "NVMe(0x%x,", u32a);
			for (int i = 0; i < 8; i++)
				textbuf_add(t, "%s%02X", i ? "-" : "", p[4 + i]);
			textbuf_add(t, ")");
			return;
		}
		break;
	case 0x0318: /* URI, ASCII */
		textbuf_add(t, "Uri(");
		for (size_t i = 0; i < n && !t->cut; i++)
			textbuf_add(t, "%c", p[i] >= 0x20 && p[i] < 0x7F ? p[i] : '?');
		textbuf_add(t, ")");
		return;
	case 0x0401: /* hard drive */
		if (n == 38 && !reader_u32le(b, &u32a) && !reader_u64le(b, &u64a) &&
		    !reader_u64le(b, &u64b) && !reader_bytes(b, 16, &g) && !reader_u8(b, &u8a) &&
		    !reader_u8(b, &u8b)) {
			textbuf_add(t, "HD(%u,", u32a);
			if (u8b == 2) {
				textbuf_add(t, "GPT,");
				text_guid(t, g);
			} else if (u8b == 1) {
				textbuf_add(t, "MBR,0x%02x%02x%02x%02x", g[3], g[2], g[1], g[0]);
			} else {
				textbuf_add(t, "%u,0", u8b);
			}
			textbuf_add(t, ",0x%llx,0x%llx)", (unsigned long long)u64a,
			            (unsigned long long)u64b);
			return;
		}
		break;
	case 0x0402: /* CD-ROM */
		if (n == 20 && !reader_u32le(b, &u32a) && !reader_u64le(b, &u64a) &&
		    !reader_u64le(b, &u64b)) {
			textbuf_add(t, "CDROM(0x%x,0x%llx,0x%llx)", u32a, (unsigned long long)u64a,
			            (unsigned long long)u64b);
			return;
		}
		break;
	case 0x0404: /* file path */ text_utf16(t, p, n); return;
	case 0x0406: /* PIWG firmware file */
	case 0x0407: /* PIWG firmware volume */
		if (n == 16) {
			textbuf_add(t, "%s(", sub == 6 ? "FvFile" : "Fv");
			text_guid(t, p);
			textbuf_add(t, ")");
			return;
		}
		break;
	case 0x0408: /* relative offset range */
		if (n == 20 && !reader_u32le(b, &u32a) && !reader_u64le(b, &u64a) &&
		    !reader_u64le(b, &u64b)) {
			textbuf_add(t, "Offset(0x%llx,0x%llx)", (unsigned long long)u64a,
			            (unsigned long long)u64b);
			return;
		}
		break;
	case 0x0501: /* BIOS boot specification */
		if (n >= 4 && !reader_u16le(b, &u16a) && !reader_u16le(b, &u16b)) {
			textbuf_add(t, "BBS(0x%x,", u16a);
			for (size_t i = 4; i < n && p[i] && !t->cut; i++)
				textbuf_add(t, "%c", p[i] >= 0x20 && p[i] < 0x7F ? p[i] : '?');
			textbuf_add(t, ",0x%x)", u16b);
			return;
		}
		break;
	default: break;
	}
	textbuf_add(t, "Path(%u,%u,", type, sub);
	text_hex(t, p, n);
	textbuf_add(t, ")");
}

/* Walk the nodes; render all of them (file_only: only the FilePath nodes). */
static int walk_path(const uint8_t *buf, size_t len, struct textbuf *t, bool file_only,
                     bool *ret_found)
{
	struct reader r;
	reader_init(&r, buf, len);
	bool found = false;
	bool prev_file = false;
	unsigned nodes = 0;
	t->buf[0] = '\0';
	while (reader_left(&r) > 0) {
		uint8_t type, sub;
		uint16_t nlen;
		struct reader body;
		if (reader_u8(&r, &type) < 0 || reader_u8(&r, &sub) < 0 ||
		    reader_u16le(&r, &nlen) < 0) {
			textbuf_add(t, "<malformed>");
			return ATTEST_E_TRUNCATED;
		}
		if (nlen < 4 || reader_sub(&r, nlen - 4u, &body) < 0) {
			textbuf_add(t, "<malformed>");
			return nlen < 4 ? ATTEST_E_FORMAT : ATTEST_E_TRUNCATED;
		}
		if (type == 0x7F && sub == 0xFF)
			break; /* end of the whole path */
		if (++nodes > EFI_MAX_DEVPATH_NODES) {
			textbuf_add(t, "<too many nodes>");
			return ATTEST_E_LIMIT;
		}
		if (type == 0x7F) {
			if (!file_only)
				textbuf_add(t, ",");
			prev_file = false;
			continue;
		}
		bool is_file = type == 4 && sub == 4;
		if (file_only) {
			if (!is_file)
				continue;
			/* Successive FilePath nodes form one path. */
			const uint8_t *bp = body.buf;
			bool sep = found && body.len >= 2 && !(bp[0] == '\\' && bp[1] == 0) &&
			           t->len > 0 && t->buf[t->len - 1] != '\\';
			if (sep)
				textbuf_add(t, "\\");
			render_node(t, type, sub, &body);
			found = true;
			continue;
		}
		if (t->len > 0 && t->buf[t->len - 1] != ',' && !(is_file && prev_file))
			textbuf_add(t, "/");
		render_node(t, type, sub, &body);
		prev_file = is_file;
		found = true;
	}
	*ret_found = found;
	return 0;
}

int efi_device_path_render(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	if (!out || cap == 0)
		return ATTEST_E_ARG;
	struct textbuf t;
	textbuf_fixed(&t, out, cap);
	bool found;
	return walk_path(buf, len, &t, false, &found);
}

int efi_device_path_file(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	if (!out || cap == 0)
		return ATTEST_E_ARG;
	struct textbuf t;
	textbuf_fixed(&t, out, cap);
	bool found = false;
	int e = walk_path(buf, len, &t, true, &found);
	if (e < 0)
		return e;
	return found ? 0 : ATTEST_E_NOTFOUND;
}
