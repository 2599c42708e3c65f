#include "trusted-dir.h"

#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"

namespace taskctl {
namespace {

// As the kernel's own limit on symlinks in one lookup (MAXSYMLINKS).
constexpr int MAX_SYMLINKS = 40;

// A directory reached so far, and what it was when we opened it.
struct Step {
  kj::AutoCloseFd fd;
  struct stat info;
  kj::String path;
};

kj::String owner(uid_t uid) {
  // Start-up only: a name lookup here costs nothing that matters.
  struct passwd* pw = getpwuid(uid);
  if (pw == nullptr) return kj::str("uid ", uid);
  return kj::str("uid ", uid, " (", pw->pw_name, ")");
}

kj::String octal(mode_t mode) {
  char text[8];
  snprintf(text, sizeof(text), "%04o", unsigned(mode & 07777));
  return kj::str(text);
}

kj::String join(kj::StringPtr dir, kj::StringPtr name) {
  return dir == "/" ? kj::str("/", name) : kj::str(dir, "/", name);
}

// Components of `path`, last first (the walk pops them from the back).
void pushComponents(kj::Vector<kj::String>& pending, kj::StringPtr path) {
  kj::Vector<kj::String> parts;
  size_t begin = 0;
  for (size_t i = 0; i <= path.size(); i++) {
    if (i == path.size() || path[i] == '/') {
      if (i > begin) parts.add(kj::heapString(path.slice(begin, i)));
      begin = i + 1;
    }
  }
  for (size_t i = parts.size(); i > 0; i--) pending.add(kj::mv(parts[i - 1]));
}

kj::String absolute(kj::StringPtr path) {
  if (path.startsWith("/")) return kj::str(path);
  char cwd[PATH_MAX];
  KJ_REQUIRE(getcwd(cwd, sizeof(cwd)) != nullptr, "cannot resolve a relative directory", path,
             strerror(errno));
  return join(cwd, path);
}

}  // namespace

kj::AutoCloseFd openTrustedDir(kj::StringPtr what, kj::StringPtr pathArg, mode_t mode) {
  auto path = absolute(pathArg);
  uid_t me = geteuid();
  // Every refusal names the directory asked for and where to read more.
  auto refuse = [&](kj::StringPtr reason) {
    taskctl::refuse(kj::str(what, " ", pathArg, ": ", reason,
                            "; refusing to start (see DIRECTORIES in taskctld(8))"));
  };
  auto failed = [&](kj::StringPtr doing, kj::StringPtr where, int error) {
    refuse(kj::str("cannot ", doing, " ", where, ": ", strerror(error)));
  };
  auto trustedOwner = [&](uid_t uid) { return uid == 0 || uid == me; };

  kj::Vector<Step> stack;
  {
    int fd = -1;
    KJ_SYSCALL_HANDLE_ERRORS(fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
      default:
        failed("open", "/", error);
    }
    Step root{kj::AutoCloseFd(fd), {}, kj::str("/")};
    KJ_SYSCALL_HANDLE_ERRORS(fstat(root.fd, &root.info)) {
      default:
        failed("examine", "/", error);
    }
    stack.add(kj::mv(root));
  }
  kj::Vector<kj::String> pending;
  pushComponents(pending, path);
  int links = 0;

  while (pending.size() > 0) {
    auto name = kj::mv(pending.back());
    pending.removeLast();
    if (name == ".") continue;
    if (name == "..") {
      // Back to a directory already checked (the walk is physical, as the
      // kernel's: after a symlink, .. is the target's parent).
      if (stack.size() > 1) stack.removeLast();
      continue;
    }
    auto& parent = stack.back();
    auto childPath = join(parent.path, name);
    bool last = pending.size() == 0;
    mode_t wanted = last ? mode : 0755;

    // Whoever may write in the parent may replace the child (and whatever a
    // symlink there points to): root, its owner, and in a sticky directory
    // only the child's owner besides them (checked once the child is known).
    if (!trustedOwner(parent.info.st_uid)) {
      refuse(kj::str(parent.path, " is owned by ", owner(parent.info.st_uid),
                     ", not by root or by taskctld's ", owner(me), ", who could replace ",
                     childPath));
    }
    bool shared = (parent.info.st_mode & 022) != 0;
    if (shared && (parent.info.st_mode & S_ISVTX) == 0) {
      refuse(kj::str(parent.path, " is writable by other users (mode ", octal(parent.info.st_mode),
                     "), who could replace ", childPath));
    }

    struct stat child;
    bool created = false;
    KJ_SYSCALL_HANDLE_ERRORS(fstatat(parent.fd, name.cStr(), &child, AT_SYMLINK_NOFOLLOW)) {
      case ENOENT:
        created = true;
        KJ_SYSCALL_HANDLE_ERRORS(mkdirat(parent.fd, name.cStr(), wanted)) {
          case EEXIST:
            // Made by someone else meanwhile (only possible in a sticky
            // parent): judged below like any other.
            created = false;
            break;
          default:
            failed("create", childPath, error);
        }
        KJ_SYSCALL_HANDLE_ERRORS(fstatat(parent.fd, name.cStr(), &child, AT_SYMLINK_NOFOLLOW)) {
          default:
            failed("examine", childPath, error);
        }
        break;
      default:
        failed("examine", childPath, error);
    }
    if (shared && !trustedOwner(child.st_uid)) {
      refuse(kj::str(childPath, " is owned by ", owner(child.st_uid),
                     ", not by root or by taskctld's ", owner(me), ", in ", parent.path,
                     ", which other users may write in (mode ", octal(parent.info.st_mode), ")"));
    }

    if (S_ISLNK(child.st_mode)) {
      if (++links > MAX_SYMLINKS) {
        refuse(kj::str("too many symlinks (more than ", MAX_SYMLINKS, ")"));
      }
      char target[PATH_MAX];
      ssize_t n = -1;
      KJ_SYSCALL_HANDLE_ERRORS(n = readlinkat(parent.fd, name.cStr(), target, sizeof(target))) {
        default:
          failed("read the symlink", childPath, error);
      }
      if (n == 0 || size_t(n) >= sizeof(target)) {
        refuse(kj::str("cannot use the symlink ", childPath));
      }
      kj::StringPtr text(target, n);
      if (text.startsWith("/")) stack.truncate(1);
      pushComponents(pending, text);
      continue;
    }
    if (!S_ISDIR(child.st_mode)) refuse(kj::str(childPath, " is not a directory"));

    int fd = -1;
    KJ_SYSCALL_HANDLE_ERRORS(
        fd = openat(parent.fd, name.cStr(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) {
      default:
        failed("open", childPath, error);
    }
    Step step{kj::AutoCloseFd(fd), {}, kj::mv(childPath)};
    KJ_SYSCALL_HANDLE_ERRORS(fstat(step.fd, &step.info)) {
      default:
        failed("examine", step.path, error);
    }
    if (step.info.st_dev != child.st_dev || step.info.st_ino != child.st_ino) {
      refuse(kj::str(step.path, " was replaced while it was being checked"));
    }
    if (created) {
      // The umask must not decide who reaches the socket; fchmod, on the fd
      // we just opened, never touches anything but this directory.
      KJ_SYSCALL_HANDLE_ERRORS(fchmod(step.fd, wanted)) {
        default:
          failed("set the mode of", step.path, error);
      }
      KJ_SYSCALL_HANDLE_ERRORS(fstat(step.fd, &step.info)) {
        default:
          failed("examine", step.path, error);
      }
    }
    stack.add(kj::mv(step));
  }

  auto& dir = stack.back();
  if (dir.info.st_uid != me) {
    refuse(kj::str(dir.path, " is owned by ", owner(dir.info.st_uid), ", not by taskctld's ",
                   owner(me)));
  }
  if ((dir.info.st_mode & 022) != 0) {
    refuse(kj::str(dir.path, " is writable by other users (mode ", octal(dir.info.st_mode), ")"));
  }
  return kj::mv(dir.fd);
}

}  // namespace taskctl
