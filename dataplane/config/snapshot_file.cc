#include "dataplane/config/snapshot_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace fwd::dataplane::config {
namespace {

// A small header in front of the serialized proto lets a reader tell a truncated or foreign
// file from a valid one.
constexpr char kMagic[] = "FWDSNAP1";
constexpr size_t kMagicLen = sizeof(kMagic) - 1;

absl::Status ioError(const std::string& what, const std::string& path) {
  return absl::UnavailableError(what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

SnapshotFile::SnapshotFile(std::string state_dir)
    : dir_(std::move(state_dir)), path_(dir_ + "/snapshot.pb") {}

absl::StatusOr<fwd::v1::Snapshot> SnapshotFile::load() const {
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    return absl::NotFoundError("no saved snapshot at " + path_);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  if (data.size() < kMagicLen + 8 || data.compare(0, kMagicLen, kMagic) != 0) {
    return absl::DataLossError("saved snapshot " + path_ + " is corrupt (bad header)");
  }
  std::uint64_t len = 0;
  std::memcpy(&len, data.data() + kMagicLen, 8);
  if (len != data.size() - kMagicLen - 8) {
    return absl::DataLossError("saved snapshot " + path_ + " is truncated");
  }
  fwd::v1::Snapshot snapshot;
  if (!snapshot.ParseFromArray(data.data() + kMagicLen + 8, static_cast<int>(len))) {
    return absl::DataLossError("saved snapshot " + path_ + " does not parse");
  }
  return snapshot;
}

absl::Status SnapshotFile::save(const fwd::v1::Snapshot& snapshot) const {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return ioError("cannot create state dir", dir_);
  }
  std::string body;
  if (!snapshot.SerializeToString(&body)) {
    return absl::InternalError("cannot serialize snapshot");
  }
  std::string data(kMagic, kMagicLen);
  std::uint64_t len = body.size();
  data.append(reinterpret_cast<const char*>(&len), 8);
  data.append(body);

  std::string tmp = path_ + ".tmp";
  // The snapshot holds upstream credentials: owner-only.
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return ioError("cannot write", tmp);
  }
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      ::close(fd);
      return ioError("cannot write", tmp);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return ioError("cannot fsync", tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    return ioError("cannot rename to", path_);
  }
  return absl::OkStatus();
}

}  // namespace fwd::dataplane::config
