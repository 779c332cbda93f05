/*-------------------------------------------------------------------------
 *
 * redact.c
 *	  Keeping secrets out of events.
 *
 * Statements that set passwords or connection strings carry the secret as
 * a string literal: CREATE ROLE ... PASSWORD '...', CREATE SUBSCRIPTION ...
 * CONNECTION '...', CREATE USER MAPPING ... OPTIONS (password '...'),
 * ALTER SYSTEM SET primary_conninfo = '...'.  The statement text is run
 * through PostgreSQL's own lexer, so quoting, dollar quotes, escapes and
 * comments are understood exactly as the parser understood them, and each
 * string literal whose name (the identifier or keyword before it, skipping
 * "=" and TO) denotes a secret is replaced by '<redacted>', as is a quoted
 * identifier given as a secret setting's value (SET x = "...").  Everything else
 * in the statement is kept as written.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/parsenodes.h"
#include "parser/scanner.h"
#include "utils/json.h"
#include "parser/gram.h"

#include "redact.h"

/* name fragments that mark a value as secret */
static const char *const secret_fragments[] = {
	"password", "passphrase", "secret", "token", "conninfo", NULL
};

bool
trail_is_secret_name(const char *name)
{
	const char *const *f;

	if (name == NULL)
		return false;
	if (pg_strcasecmp(name, "connection") == 0)
		return true;
	for (f = secret_fragments; *f != NULL; f++)
	{
		const char *p;

		for (p = name; *p; p++)
			if (pg_strncasecmp(p, *f, strlen(*f)) == 0)
				return true;
	}
	return false;
}

char *
trail_redact_statement(const char *sql)
{
	core_yyscan_t scanner;
	core_yy_extra_type extra;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	StringInfoData out;
	char	   *name = NULL;
	bool		assigned = false;
	int			copied = 0;
	int			tok;

	initStringInfo(&out);
	scanner = scanner_init(sql, &extra, &ScanKeywords, ScanKeywordTokens);

	while ((tok = core_yylex(&yylval, &yylloc, scanner)) != 0)
	{
		/* flex leaves a NUL after the current token's text in scanbuf */
		const char *text = extra.scanbuf + yylloc;

		/*
		 * A secret's value is a string literal, or (SET name = "value")
		 * a quoted identifier after "=" or TO.
		 */
		if (tok == SCONST || tok == USCONST ||
			(tok == IDENT && assigned && text[0] == '"'))
		{
			if (trail_is_secret_name(name))
			{
				appendBinaryStringInfo(&out, sql + copied, yylloc - copied);
				appendStringInfoString(&out, "'" TRAIL_REDACTED "'");
				copied = yylloc + strlen(text);
			}
			name = NULL;
			assigned = false;
		}
		else if (tok == IDENT)
		{
			name = yylval.str;
			assigned = false;
		}
		else if (tok >= ABORT_P && tok <= ZONE)
		{
			/* a keyword: TO joins a name to its value, others are names */
			if (strcmp(yylval.keyword, "to") == 0)
				assigned = true;
			else
			{
				name = (char *) yylval.keyword;
				assigned = false;
			}
		}
		else if (tok == '=')
			assigned = true;
		else
		{
			name = NULL;
			assigned = false;
		}
	}
	scanner_finish(scanner);

	appendStringInfoString(&out, sql + copied);
	return out.data;
}
