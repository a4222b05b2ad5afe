#include "controlplane/store/data_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/crypto/token.h"

namespace fwd::controlplane::store {
namespace {

std::string errnoText(int err) { return std::strerror(err); }

}  // namespace

absl::Status ensureDataDir(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    if (!std::filesystem::is_directory(dir, ec)) {
      return absl::FailedPreconditionError("data dir " + dir + " exists and is not a directory");
    }
    return absl::OkStatus();
  }
  std::filesystem::path parent = std::filesystem::path(dir).parent_path();
  if (!parent.empty()) {
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return absl::PermissionDeniedError("cannot create " + parent.string() + ": " + ec.message());
    }
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError("cannot create data dir " + dir + ": " + errnoText(errno));
  }
  return absl::OkStatus();
}

absl::Status writeSecretFile(const std::string& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    int err = errno;
    if (err == EEXIST) {
      return absl::AlreadyExistsError(path + " already exists");
    }
    return absl::PermissionDeniedError("cannot create " + path + ": " + errnoText(err));
  }
  // The umask may only remove bits; make the mode exact anyway.
  bool ok = ::fchmod(fd, 0600) == 0;
  size_t written = 0;
  while (ok && written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    ok = n > 0;
    written += ok ? static_cast<size_t>(n) : 0;
  }
  ok = ok && ::fsync(fd) == 0;
  int err = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    ::unlink(path.c_str());
    return absl::InternalError("cannot write " + path + ": " + errnoText(err));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> bootstrapTokens(Store& store, const std::string& dir) {
  absl::StatusOr<bool> has = store.hasTokens();
  if (!has.ok()) {
    return has.status();
  }
  if (*has) {
    return false;
  }
  const std::string admin_path = (std::filesystem::path(dir) / kAdminTokenFile).string();
  const std::string node_path = (std::filesystem::path(dir) / kNodeTokenFile).string();
  for (const std::string& path : {admin_path, node_path}) {
    if (::access(path.c_str(), F_OK) == 0) {
      return absl::FailedPreconditionError(
          path + " exists but the database holds no tokens (was fwd.db replaced?): move the old " +
          "admin.token and node.token away and restart to create new ones");
    }
  }
  const std::string admin = common::crypto::randomToken("fwd-admin-");
  const std::string node = common::crypto::randomToken("fwd-node-");
  absl::Status s = writeSecretFile(admin_path, admin + "\n");
  if (s.ok()) {
    s = writeSecretFile(node_path, node + "\n");
    if (!s.ok()) {
      ::unlink(admin_path.c_str());
    }
  }
  if (!s.ok()) {
    return s;
  }
  s = store.addTokens({{TokenKind::kAdmin, common::crypto::sha256Hex(admin)},
                       {TokenKind::kNode, common::crypto::sha256Hex(node)}});
  if (!s.ok()) {
    // Tokens nobody can use must not stay behind to block the next attempt.
    ::unlink(admin_path.c_str());
    ::unlink(node_path.c_str());
    return s;
  }
  return true;
}

}  // namespace fwd::controlplane::store
