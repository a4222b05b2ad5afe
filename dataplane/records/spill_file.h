// Records a data plane could not hand to the control plane yet, kept in its state dir until it
// can: a file of frames, each a 4-byte little-endian length and a serialized fwd.v1.RecordBatch.
// Frames are sent oldest first; once all are acked the file is emptied. A frame written in part
// (the process died mid-write) is cut off when the file is opened again; frames sent but not
// yet acked when the process died are sent again, and the control plane keeps each record once
// (ids). Bounded: a frame that would pass max_bytes is refused, and its records are dropped and
// counted by the caller. Used by the records sender's thread only; blocking IO is fine there.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace fwd::dataplane::records {

class SpillFile {
 public:
  /// Opens (creating) `path`, keeping the whole frames it holds. max_bytes 0: nothing is kept.
  SpillFile(std::string path, std::uint64_t max_bytes);
  ~SpillFile();
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  /// Where the file is; the problem opening it (then every append fails), or OK.
  const std::string& path() const { return path_; }
  const absl::Status& openStatus() const { return open_status_; }

  /// Appends a frame of a serialized fwd.v1.RecordBatch (record_wire.h): RESOURCE_EXHAUSTED
  /// when it would pass max_bytes, another error when writing failed (a full disk); nothing of
  /// it is kept then.
  absl::Status append(std::string_view batch);
  /// Frames not yet sent.
  bool empty() const { return read_at_ >= size_; }
  struct Frame {
    std::string batch;  // a serialized fwd.v1.RecordBatch
    size_t records = 0;
  };
  /// The oldest frame not yet sent; nullopt when none, or when it cannot be read or parsed
  /// (the file is then emptied: what it held is lost, and logged).
  std::optional<Frame> front();
  /// The frame front() returned was stored: the next one is front. After the last, the file is
  /// emptied.
  void pop();
  /// Bytes in the file (sent frames included until it is emptied).
  std::uint64_t bytes() const { return size_; }

 private:
  void reset();

  std::string path_;
  std::uint64_t max_bytes_;
  int fd_ = -1;
  absl::Status open_status_;
  std::uint64_t size_ = 0;       // bytes of whole frames
  std::uint64_t read_at_ = 0;    // the first frame not yet acked
  std::uint64_t front_end_ = 0;  // where the frame front() returned ends
};

}  // namespace fwd::dataplane::records
