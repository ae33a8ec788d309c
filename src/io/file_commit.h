#pragma once
// The file half of the results store's commit (results_store.cpp does the HDF5
// half): a commit writes a whole new file beside the results file and renames it
// over it. Here: which file that really is (symlinks followed), whether this
// process may replace it (checked before a sweep starts), the copy and the sync,
// each failing with an sb::Error that names the file and the system's reason
// ("No space left on device", "Permission denied", ...).
#include <string>

namespace sb {

// The path a commit replaces: `path` with symlinks followed, also a dangling link
// (whose target the first commit creates). A rename() onto the link itself would
// replace the link by a regular file and leave its target stale.
std::string resolve_symlinks(const std::string& path);

std::string directory_of(const std::string& path);

// "<path>.tmp.<host>.<pid>": this process's copy. The host is in the name because
// a pid means nothing on another node of a shared file system.
std::string temporary_path(const std::string& path);
// Deletes the copies of `path` left by dead processes of this host.
void remove_stale_temporaries(const std::string& path);

// Throws unless this process can replace `target` (present or not) by a new file:
// a present one must be a regular file this process may write, with write
// permission bits (root may write anything: a file made read-only is refused for
// root too, rather than silently replaced by the rename); its directory must take
// new files; and, when need_locks, fcntl locks must work there. `shown` names the
// results file in messages.
void check_replaceable(const std::string& target, const std::string& shown, bool need_locks);

// Copies `from` into a new file `to` with the same permission bits. In-kernel
// (copy_file_range: server-side on NFS 4.2, reflinks on XFS/btrfs) where the file
// system allows, read/write otherwise; a short copy is an error with errno's text,
// never a generic "Input/output error".
void copy_file_contents(const std::string& from, const std::string& to);

void fsync_path(const std::string& path, bool directory);

}  // namespace sb
