#include "dataplane/records/spill_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log/log.h"
#include "fwd/v1/records.pb.h"

namespace fwd::dataplane::records {
namespace {

constexpr size_t kFrameHeader = 4;
// A frame longer than this is not one fwd wrote (a batch is at most 1,000 records).
constexpr std::uint32_t kMaxFrame = 64u << 20;

absl::Status errnoStatus(const std::string& what, int err) {
  return absl::InternalError(what + ": " + std::strerror(err));
}

bool readAll(int fd, char* out, size_t n, std::uint64_t at) {
  while (n > 0) {
    ssize_t got = ::pread(fd, out, n, static_cast<off_t>(at));
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      return false;
    }
    out += got;
    n -= static_cast<size_t>(got);
    at += static_cast<std::uint64_t>(got);
  }
  return true;
}

std::uint32_t frameLength(const char* header) {
  const auto* b = reinterpret_cast<const unsigned char*>(header);
  return static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
         static_cast<std::uint32_t>(b[2]) << 16 | static_cast<std::uint32_t>(b[3]) << 24;
}

}  // namespace

SpillFile::SpillFile(std::string path, std::uint64_t max_bytes)
    : path_(std::move(path)), max_bytes_(max_bytes) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    open_status_ = errnoStatus("cannot open the records spill file " + path_, errno);
    FWD_LOG(kError, "records") << open_status_.message();
    return;
  }
  struct stat st {};
  std::uint64_t file_size = ::fstat(fd_, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  // Keep the whole frames; a torn last one (the process died writing it) is cut off.
  std::uint64_t at = 0;
  char header[kFrameHeader];
  while (at + kFrameHeader <= file_size && readAll(fd_, header, kFrameHeader, at)) {
    std::uint32_t n = frameLength(header);
    if (n > kMaxFrame || at + kFrameHeader + n > file_size) {
      break;
    }
    at += kFrameHeader + n;
  }
  if (at != file_size) {
    FWD_LOG(kWarn, "records") << "records spill file " << path_ << ": cut a torn frame at byte "
                              << at << " of " << file_size;
    if (::ftruncate(fd_, static_cast<off_t>(at)) != 0) {
      open_status_ = errnoStatus("cannot truncate the records spill file " + path_, errno);
    }
  }
  size_ = at;
  if (size_ > 0) {
    FWD_LOG(kInfo, "records") << "records spill file " << path_ << " holds " << size_
                              << " bytes of records to send";
  }
}

SpillFile::~SpillFile() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

absl::Status SpillFile::append(std::string_view batch) {
  if (!open_status_.ok()) {
    return open_status_;
  }
  std::string frame(kFrameHeader, '\0');
  frame.append(batch);
  auto n = static_cast<std::uint32_t>(frame.size() - kFrameHeader);
  for (size_t i = 0; i < kFrameHeader; ++i) {
    frame[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  }
  if (size_ + frame.size() > max_bytes_) {
    return absl::ResourceExhaustedError("the records spill file " + path_ + " is full (" +
                                        std::to_string(max_bytes_) + " bytes)");
  }
  size_t written = 0;
  while (written < frame.size()) {
    ssize_t w = ::pwrite(fd_, frame.data() + written, frame.size() - written,
                         static_cast<off_t>(size_ + written));
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w <= 0) {
      int err = w < 0 ? errno : ENOSPC;
      // What was written of the frame is not a frame: cut it off again.
      if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
        FWD_LOG(kError, "records") << "cannot truncate " << path_ << ": " << std::strerror(errno);
      }
      return errnoStatus("cannot write the records spill file " + path_, err);
    }
    written += static_cast<size_t>(w);
  }
  size_ += frame.size();
  return absl::OkStatus();
}

std::optional<SpillFile::Frame> SpillFile::front() {
  if (empty()) {
    return std::nullopt;
  }
  char header[kFrameHeader];
  std::string body;
  bool ok = readAll(fd_, header, kFrameHeader, read_at_);
  std::uint32_t n = ok ? frameLength(header) : 0;
  ok = ok && n <= kMaxFrame && read_at_ + kFrameHeader + n <= size_;
  if (ok) {
    body.resize(n);
    ok = readAll(fd_, body.data(), n, read_at_ + kFrameHeader);
  }
  // Parsed to be sure the control plane can: a frame it cannot parse would come back forever.
  fwd::v1::RecordBatch batch;
  if (!ok || !batch.ParseFromString(body)) {
    FWD_LOG(kError, "records") << "records spill file " << path_ << ": unreadable frame at byte "
                               << read_at_ << "; the " << size_ - read_at_
                               << " bytes from there are given up";
    reset();
    return std::nullopt;
  }
  front_end_ = read_at_ + kFrameHeader + n;
  return Frame{std::move(body), static_cast<size_t>(batch.records_size())};
}

void SpillFile::pop() {
  if (front_end_ > read_at_) {
    read_at_ = front_end_;
  }
  if (read_at_ >= size_) {
    reset();
  }
}

void SpillFile::reset() {
  if (fd_ >= 0 && ::ftruncate(fd_, 0) != 0) {
    FWD_LOG(kError, "records") << "cannot empty " << path_ << ": " << std::strerror(errno);
  }
  size_ = 0;
  read_at_ = 0;
  front_end_ = 0;
}

}  // namespace fwd::dataplane::records
