/*
 * Subject and grade normalization.
 *
 * A raw value is reduced to a key: ASCII letters lower-cased, digits kept,
 * everything else (spaces, '-', '/', '&', '.', ...) dropped.  So "Pre-K",
 * "pre k" and "PREK" share the key "prek", and every normalized value is
 * matched case-insensitively ("PE and health" -> "peandhealth").  Keys are
 * looked up in the alias tables below; grades also accept numeric forms
 * ("01", "Grade 3", "3rd grade", "gr3", "third").  Keep these tables in step
 * with doc/roster-format.md.
 */
#include <stddef.h>
#include <string.h>

#include "normalize.h"
#include "xmalloc.h"

#define KEY_MAX	48	/* longer values are never recognised */

const char *const normalize_subjects[] = {
	"english/language arts", "math", "science", "social studies",
	"language", "homeroom/advisory", "interventions/online learning",
	"technology and engineering", "PE and health", "arts and music",
	"other", "", NULL
};

const char *const normalize_grades[] = {
	"InfantToddler", "Preschool", "PreKindergarten",
	"TransitionalKindergarten", "Kindergarten",
	"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13",
	"PostGraduate", "Ungraded", "Other", "", NULL
};

struct alias {
	const char	*key;
	const char	*value;
};

#define ELA	"english/language arts"
#define SOC	"social studies"
#define HRA	"homeroom/advisory"
#define IOL	"interventions/online learning"
#define TAE	"technology and engineering"
#define PEH	"PE and health"
#define AAM	"arts and music"

static const struct alias subject_aliases[] = {
	{ "englishlanguagearts", ELA }, { "ela", ELA }, { "english", ELA },
	{ "languagearts", ELA }, { "reading", ELA }, { "writing", ELA },
	{ "literature", ELA }, { "literacy", ELA }, { "rla", ELA },
	{ "readinglanguagearts", ELA }, { "englishla", ELA }, { "eng", ELA },
	{ "composition", ELA }, { "grammar", ELA }, { "phonics", ELA },

	{ "math", "math" }, { "maths", "math" }, { "mathematics", "math" },
	{ "algebra", "math" }, { "geometry", "math" }, { "calculus", "math" },
	{ "precalculus", "math" }, { "statistics", "math" },
	{ "trigonometry", "math" }, { "arithmetic", "math" },

	{ "science", "science" }, { "biology", "science" },
	{ "chemistry", "science" }, { "physics", "science" },
	{ "earthscience", "science" }, { "lifescience", "science" },
	{ "physicalscience", "science" }, { "environmentalscience", "science" },
	{ "anatomy", "science" },

	{ "socialstudies", SOC }, { "history", SOC }, { "ushistory", SOC },
	{ "worldhistory", SOC }, { "government", SOC }, { "civics", SOC },
	{ "economics", SOC }, { "geography", SOC }, { "socialscience", SOC },
	{ "socialsciences", SOC }, { "psychology", SOC }, { "sociology", SOC },

	{ "language", "language" }, { "languages", "language" },
	{ "foreignlanguage", "language" }, { "foreignlanguages", "language" },
	{ "worldlanguage", "language" }, { "worldlanguages", "language" },
	{ "spanish", "language" }, { "french", "language" },
	{ "german", "language" }, { "italian", "language" },
	{ "latin", "language" }, { "chinese", "language" },
	{ "mandarin", "language" }, { "japanese", "language" },
	{ "arabic", "language" }, { "russian", "language" },
	{ "asl", "language" }, { "americansignlanguage", "language" },

	{ "homeroomadvisory", HRA }, { "homeroom", HRA }, { "advisory", HRA },
	{ "advisement", HRA },

	{ "interventionsonlinelearning", IOL }, { "interventions", IOL },
	{ "intervention", IOL }, { "onlinelearning", IOL },
	{ "specialeducation", IOL }, { "sped", IOL }, { "rti", IOL },

	{ "technologyandengineering", TAE }, { "technologyengineering", TAE },
	{ "technology", TAE }, { "engineering", TAE },
	{ "computerscience", TAE }, { "computers", TAE }, { "computer", TAE },
	{ "compsci", TAE }, { "robotics", TAE }, { "coding", TAE },
	{ "programming", TAE }, { "stem", TAE },
	{ "informationtechnology", TAE },

	{ "peandhealth", PEH }, { "pehealth", PEH }, { "healthandpe", PEH },
	{ "pe", PEH }, { "physicaleducation", PEH }, { "physed", PEH },
	{ "health", PEH }, { "gym", PEH }, { "fitness", PEH },
	{ "wellness", PEH },

	{ "artsandmusic", AAM }, { "artsmusic", AAM }, { "art", AAM },
	{ "arts", AAM }, { "music", AAM }, { "band", AAM }, { "choir", AAM },
	{ "chorus", AAM }, { "orchestra", AAM }, { "theater", AAM },
	{ "theatre", AAM }, { "drama", AAM }, { "dance", AAM },
	{ "visualarts", AAM }, { "finearts", AAM }, { "performingarts", AAM },

	{ "other", "other" },
	{ NULL, NULL }
};

static const struct alias grade_aliases[] = {
	{ "infanttoddler", "InfantToddler" }, { "infant", "InfantToddler" },
	{ "toddler", "InfantToddler" }, { "it", "InfantToddler" },

	{ "preschool", "Preschool" }, { "ps", "Preschool" },

	{ "prekindergarten", "PreKindergarten" }, { "prek", "PreKindergarten" },
	{ "pk", "PreKindergarten" }, { "prekinder", "PreKindergarten" },
	{ "pk3", "PreKindergarten" }, { "pk4", "PreKindergarten" },

	{ "transitionalkindergarten", "TransitionalKindergarten" },
	{ "tk", "TransitionalKindergarten" },

	{ "kindergarten", "Kindergarten" }, { "k", "Kindergarten" },
	{ "kg", "Kindergarten" }, { "kinder", "Kindergarten" },
	{ "kindergarden", "Kindergarten" },

	{ "postgraduate", "PostGraduate" }, { "postgrad", "PostGraduate" },
	{ "pg", "PostGraduate" },

	{ "ungraded", "Ungraded" }, { "ug", "Ungraded" },
	{ "nongraded", "Ungraded" },

	{ "other", "Other" },
	{ NULL, NULL }
};

/* Grades 1..13 as words; index + 1 is the grade. */
static const char *const grade_words[] = {
	"first", "second", "third", "fourth", "fifth", "sixth", "seventh",
	"eighth", "ninth", "tenth", "eleventh", "twelfth", "thirteenth", NULL
};

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f';
}

/* 1 if raw is NULL or only whitespace. */
static int
is_blank(const char *raw)
{
	if (raw == NULL)
		return 1;
	while (is_space(*raw))
		raw++;
	return *raw == '\0';
}

/* Reduce raw to its lookup key; -1 if the key would be too long. */
static int
make_key(const char *raw, char key[KEY_MAX + 1])
{
	size_t	n = 0;
	char	c;

	for (; *raw != '\0'; raw++) {
		c = *raw;
		if (c >= 'A' && c <= 'Z')
			c = c - 'A' + 'a';
		else if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9'))
			continue;
		if (n == KEY_MAX)
			return -1;
		key[n++] = c;
	}
	key[n] = '\0';
	return 0;
}

static const char *
lookup_alias(const struct alias *table, const char *key)
{
	for (; table->key != NULL; table++) {
		if (strcmp(table->key, key) == 0)
			return table->value;
	}
	return NULL;
}

static const char *
lookup_exact(const char *const *set, const char *s)
{
	for (; *set != NULL; set++) {
		if (strcmp(*set, s) == 0)
			return *set;
	}
	return NULL;
}

/* Skip a literal prefix of s; returns s unchanged if it is not there. */
static const char *
skip_prefix(const char *s, const char *prefix)
{
	size_t	len = strlen(prefix);

	return strncmp(s, prefix, len) == 0 ? s + len : s;
}

/*
 * Grade number from a key: "3", "03", "grade3", "gr3", "g3", "3rd",
 * "3rdgrade", "3grade", "grade3rd".  0 means Kindergarten ("00" in many
 * SIS exports).  -1 if the key is not of that shape or out of range.
 */
static int
grade_number(const char *key)
{
	const char	*p = key;
	int		 n = 0, digits = 0;

	if ((p = skip_prefix(key, "grade")) == key &&
	    (p = skip_prefix(key, "gr")) == key)
		p = skip_prefix(key, "g");
	for (; *p >= '0' && *p <= '9'; p++) {
		if (++digits > 2)
			return -1;
		n = n * 10 + (*p - '0');
	}
	if (digits == 0)
		return -1;
	if (strncmp(p, "st", 2) == 0 || strncmp(p, "nd", 2) == 0 ||
	    strncmp(p, "rd", 2) == 0 || strncmp(p, "th", 2) == 0)
		p += 2;
	p = skip_prefix(p, "grade");
	if (*p != '\0' || n > 13)
		return -1;
	return n;
}

/* "third", "thirdgrade", "gradethird" -> 3; else -1. */
static int
grade_word(const char *key)
{
	const char	*p = skip_prefix(key, "grade");
	size_t		 i, len;

	for (i = 0; grade_words[i] != NULL; i++) {
		len = strlen(grade_words[i]);
		if (strncmp(p, grade_words[i], len) != 0)
			continue;
		if (strcmp(p + len, "") == 0 ||
		    (p == key && strcmp(p + len, "grade") == 0))
			return (int)i + 1;
	}
	return -1;
}

static const char *
grade_from_number(int n)
{
	/* normalize_grades[5] is "1". */
	return n == 0 ? "Kindergarten" : normalize_grades[4 + n];
}

const char *
normalize_subject(const char *raw, int *known)
{
	char		 key[KEY_MAX + 1];
	const char	*v;
	int		 dummy;

	if (known == NULL)
		known = &dummy;
	*known = 1;
	if (is_blank(raw))
		return "";
	if ((v = lookup_exact(normalize_subjects, raw)) != NULL)
		return v;
	if (make_key(raw, key) == 0 && key[0] != '\0' &&
	    (v = lookup_alias(subject_aliases, key)) != NULL)
		return v;
	*known = 0;
	return "other";
}

const char *
normalize_grade(const char *raw, int *known)
{
	char		 key[KEY_MAX + 1];
	const char	*v, *p;
	int		 n, dummy;

	if (known == NULL)
		known = &dummy;
	*known = 1;
	if (is_blank(raw))
		return "";
	if ((v = lookup_exact(normalize_grades, raw)) != NULL)
		return v;
	for (p = raw; is_space(*p); p++)
		;
	/* "-1" style codes must not lose their sign to the key. */
	if (*p != '-' && make_key(raw, key) == 0 && key[0] != '\0') {
		if ((v = lookup_alias(grade_aliases, key)) != NULL)
			return v;
		if ((n = grade_number(key)) != -1 || (n = grade_word(key)) != -1)
			return grade_from_number(n);
	}
	*known = 0;
	return "Other";
}

int
normalize_subject_is_canonical(const char *s)
{
	return s != NULL && lookup_exact(normalize_subjects, s) != NULL;
}

int
normalize_grade_is_canonical(const char *s)
{
	return s != NULL && lookup_exact(normalize_grades, s) != NULL;
}

/*
 * Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0.
 * Table 3-7 of the Unicode standard: no overlong forms (C0, C1, E0 80-9F,
 * F0 80-8F), no surrogates (ED A0-BF), nothing past U+10FFFF (F4 90-,
 * F5-FF).  *maximal is the length of the maximal subpart of an ill-formed
 * sequence (at least 1): what one U+FFFD replaces.
 */
static size_t
utf8_seq(const unsigned char *s, size_t n, size_t *maximal)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		need, i;

	*maximal = 1;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	for (i = 1; i < need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi)
			return 0;
		*maximal = i + 1;
		lo = 0x80;
		hi = 0xbf;
	}
	return need;
}

/* Write the valid form of s[0..len) to out (NULL: only measure it). */
static size_t
utf8_repair(const unsigned char *s, size_t len, char *out, int *changed)
{
	size_t	i = 0, o = 0, k, bad;

	while (i < len) {
		if ((k = utf8_seq(s + i, len - i, &bad)) == 0) {
			if (out != NULL)
				memcpy(out + o, "\xef\xbf\xbd", 3);	/* U+FFFD */
			o += 3;
			i += bad;
			*changed = 1;
			continue;
		}
		if (out != NULL)
			memcpy(out + o, s + i, k);
		o += k;
		i += k;
	}
	return o;
}

char *
normalize_utf8(const char *s, size_t len, int *changed)
{
	const unsigned char	*u = (const unsigned char *)s;
	char			*out;
	size_t			 n;
	int			 bad = 0;

	n = utf8_repair(u, len, NULL, &bad);
	out = xmalloc(n + 1);
	if (bad)
		utf8_repair(u, len, out, &bad);
	else
		memcpy(out, s, len);
	out[n] = '\0';
	if (changed != NULL)
		*changed = bad;
	return out;
}
