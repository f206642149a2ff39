/*
 * password.h: putting a password taken from REDLOCK_PASSWORD or
 * --password-file into node URIs that do not carry one. Pure logic.
 */
#ifndef REDLOCK_CLI_PASSWORD_H
#define REDLOCK_CLI_PASSWORD_H

#include <stddef.h>

/*
 * Return a new heap string: uri with password added when uri has none, or
 * a plain copy when it already has one (the URI's own password wins).
 *
 *   redis://host:1/2            -> redis://:PW@host:1/2
 *   redis://user@host           -> redis://user:PW@host
 *   redis://user:@host          -> redis://user:PW@host
 *   rediss://host:1             -> rediss://:PW@host:1 (as redis://)
 *   sentinel://s:1/m?db=2       -> sentinel://:PW@s:1/m?db=2 (the data
 *                                  servers' password; sentinels:// too;
 *                                  sentinel_password is left alone)
 *   unix:///s.sock              -> unix:///s.sock?password=PW
 *   unix:///s.sock?db=1         -> unix:///s.sock?db=1&password=PW
 *   unix:///s.sock?password=&db=1 -> unix:///s.sock?db=1&password=PW
 *
 * PW is the password percent-encoded (everything but A-Z a-z 0-9 - . _ ~),
 * so any byte is safe. Schemes are matched without regard to case; a URI
 * with another scheme is copied unchanged (the library then rejects it
 * with a message of its own). Returns NULL when out of memory. The caller
 * frees the result with cli_password_free_uri(), which wipes it first.
 */
char *cli_password_inject(const char *uri, const char *password);

/* Wipe and free a string from cli_password_inject(). NULL is ignored. */
void cli_password_free_uri(char *uri);

/*
 * Overwrite n bytes at p with zeros in a way the compiler may not remove
 * (explicit_bzero), for buffers that held a password.
 */
void cli_password_wipe(void *p, size_t n);

#endif /* REDLOCK_CLI_PASSWORD_H */
