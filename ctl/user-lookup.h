// `--user USER` as the uid it names (`schedule remove NAME --user USER`, for root and admins).
//
// A name is looked up in /etc/passwd itself, not through getpwnam(3): taskctl is linked
// statically, and a static glibc's getpwnam dlopens the NSS modules nsswitch.conf lists after
// `files` (Debian 12: `systemd`) for any name /etc/passwd lacks; the shared libc they bring into
// the static process crashes it (SIGSEGV, seen with `passwd: files systemd`). Users known only
// to LDAP, sssd or systemd's NSS module are named by their uid instead.
#pragma once

#include <kj/string.h>
#include <stdint.h>

namespace taskctl {

// The uid `text` names: a user name in `passwdPath` first, else a decimal uid, as chown(1) reads
// USER. A uid needs no entry: a schedule outlives its owner's account, and an admin must still be
// able to remove it. nullptr for an unknown name, for text that is neither, and for 4294967295
// ((uid_t)-1 is no uid). An unreadable file leaves only uids.
kj::Maybe<uint32_t> resolveUser(kj::StringPtr text, kj::StringPtr passwdPath = "/etc/passwd"_kj);

}  // namespace taskctl
