// The last good snapshot on disk, so a data plane restarted while the control plane is down
// serves the config it had. Written atomically (temp file, fsync, rename); read at start.
// Blocking file IO: call from the config thread or main, never from an IO worker.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "fwd/v1/config.pb.h"

namespace fwd::dataplane::config {

class SnapshotFile {
 public:
  explicit SnapshotFile(std::string state_dir);

  /// NOT_FOUND when no snapshot was saved yet; DATA_LOSS when the file is corrupt.
  absl::StatusOr<fwd::v1::Snapshot> load() const;
  absl::Status save(const fwd::v1::Snapshot& snapshot) const;

  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace fwd::dataplane::config
