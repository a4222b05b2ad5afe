#include "dataplane/records/jsonl_writer.h"

#include <fcntl.h>
#include <google/protobuf/util/time_util.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "common/log/log.h"

namespace fwd::dataplane::records {
namespace {

constexpr std::int64_t kSecondsPerDay = 86'400;

std::string dayText(std::int64_t day) {
  std::time_t t = static_cast<std::time_t>(day * kSecondsPerDay);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &tm);
  return text;
}

std::int64_t dayOf(std::int64_t unix_s) {
  return unix_s >= 0 ? unix_s / kSecondsPerDay : (unix_s - kSecondsPerDay + 1) / kSecondsPerDay;
}

// A JSON object written field by field, in order.
class Line {
 public:
  Line() { out_.push_back('{'); }
  Line& str(std::string_view name, std::string_view value) {
    key(name);
    appendJsonString(out_, value);
    return *this;
  }
  Line& num(std::string_view name, std::uint64_t value) {
    key(name);
    out_ += std::to_string(value);
    return *this;
  }
  Line& integer(std::string_view name, std::int64_t value) {
    key(name);
    out_ += std::to_string(value);
    return *this;
  }
  Line& millis(std::string_view name, std::uint64_t micros) {
    key(name);
    out_ += std::to_string(micros / 1000);
    out_.push_back('.');
    std::string frac = std::to_string(micros % 1000);
    out_.append(3 - frac.size(), '0');
    out_ += frac;
    return *this;
  }
  Line& boolean(std::string_view name, bool value) {
    key(name);
    out_ += value ? "true" : "false";
    return *this;
  }
  /// A body and whether it was cut.
  Line& body(std::string_view name, const CappedBytes& b) {
    str(name, b.bytes);
    key(std::string(name) + "_truncated");
    out_ += b.cut() ? "true" : "false";
    return *this;
  }
  std::string done() {
    out_ += "}\n";
    return std::move(out_);
  }

 private:
  void key(std::string_view name) {
    if (out_.size() > 1) {
      out_.push_back(',');
    }
    appendJsonString(out_, name);
    out_.push_back(':');
  }
  std::string out_;
};

// "ok", "error", "partial", "client_cancelled", "rate_limited": the enum's name without its
// OUTCOME_ prefix, lowercase; "" when unset.
std::string outcomeText(fwd::v1::Outcome o) {
  return o == fwd::v1::OUTCOME_UNSPECIFIED
             ? std::string()
             : absl::AsciiStrToLower(fwd::v1::Outcome_Name(o).substr(sizeof("OUTCOME_") - 1));
}

prometheus::Counter& counter(prometheus::Family<prometheus::Counter>& family,
                             const std::string& file) {
  return family.Add({{"file", file}});
}

}  // namespace

void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + text.size() + 2);
  out.push_back('"');
  size_t i = 0;
  while (i < text.size()) {
    // Runs of plain printable ASCII go in one append.
    size_t run = i;
    while (run < text.size()) {
      auto c = static_cast<unsigned char>(text[run]);
      if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
        break;
      }
      ++run;
    }
    out.append(text.data() + i, run - i);
    i = run;
    if (i == text.size()) {
      break;
    }
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      size_t n = common::log::utf8Length(text.substr(i));
      if (n > 0) {
        out.append(text.data() + i, n);
        i += n;
      } else {
        out += "\\ufffd";  // not UTF-8: a JSON text must be
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:  // other C0 controls (NUL, ESC ...) and DEL
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
    ++i;
  }
  out.push_back('"');
}

JsonlFile::JsonlFile(std::string dir, std::string name, std::uint64_t max_bytes)
    : dir_(std::move(dir)),
      name_(std::move(name)),
      path_((std::filesystem::path(dir_) / (name_ + ".jsonl")).string()),
      max_bytes_(max_bytes) {}

JsonlFile::~JsonlFile() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

bool JsonlFile::open() {
  if (fd_ >= 0) {
    return true;
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    return false;
  }
  struct stat st {};
  if (::fstat(fd_, &st) == 0) {
    size_ = static_cast<std::uint64_t>(st.st_size);
    // A file an earlier run left: its day is the day it was last written.
    day_ = size_ > 0 ? dayOf(st.st_mtim.tv_sec) : -1;
  }
  return true;
}

void JsonlFile::rotate() {
  ::close(fd_);
  fd_ = -1;
  std::string base = (std::filesystem::path(dir_) / (name_ + "-" + dayText(day_))).string();
  std::string target = base + ".jsonl";
  for (int n = 1; ::access(target.c_str(), F_OK) == 0; ++n) {
    target = base + "." + std::to_string(n) + ".jsonl";
  }
  if (::rename(path_.c_str(), target.c_str()) != 0) {
    FWD_LOG(kWarn, "jsonl") << "cannot rotate " << path_ << " to " << target << ": "
                            << std::strerror(errno) << "; writing on in it";
  }
  size_ = 0;
  day_ = -1;
}

std::uint64_t JsonlFile::flush(std::int64_t now_unix_s) {
  if (pending_.empty()) {
    return 0;
  }
  std::uint64_t lines = pending_lines_;
  std::int64_t today = dayOf(now_unix_s);
  bool ok = open();
  if (ok && size_ > 0 && (day_ != today || size_ + pending_.size() > max_bytes_)) {
    rotate();
    ok = open();
  }
  const char* error = nullptr;
  if (!ok) {
    error = std::strerror(errno);
  } else {
    size_t written = 0;
    while (written < pending_.size()) {
      ssize_t n = ::write(fd_, pending_.data() + written, pending_.size() - written);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        error = n < 0 ? std::strerror(errno) : "no space written";
        break;
      }
      written += static_cast<size_t>(n);
    }
    if (error != nullptr) {
      // No half line: the file goes back to where it was (the lines are lost, and counted).
      if (written > 0 && ::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
        FWD_LOG(kWarn, "jsonl") << "cannot cut " << path_
                                << " back after a failed write: " << std::strerror(errno);
      }
      // Opened again for the next lines: the operator may have replaced the file meanwhile.
      ::close(fd_);
      fd_ = -1;
    } else {
      if (size_ == 0) {
        day_ = today;
      }
      size_ += pending_.size();
    }
  }
  pending_.clear();
  pending_lines_ = 0;
  if (error != nullptr) {
    if (!failing_) {
      FWD_LOG(kWarn, "jsonl") << "cannot write " << path_ << ": " << error
                              << "; its lines are dropped until it can";
    }
    failing_ = true;
    return lines;
  }
  if (failing_) {
    FWD_LOG(kInfo, "jsonl") << "writing " << path_ << " again";
  }
  failing_ = false;
  return 0;
}

JsonlWriter::JsonlWriter(Options options, prometheus::Registry& registry)
    : options_(std::move(options)),
      client_(options_.dir, "client_interaction", options_.max_bytes),
      server_(options_.dir, "server_interaction", options_.max_bytes),
      lines_(prometheus::BuildCounter()
                 .Name("fwd_jsonl_lines_total")
                 .Help("Lines written to the --jsonl-dir files, by file (client: "
                       "client_interaction.jsonl, server: server_interaction.jsonl).")
                 .Register(registry)),
      dropped_(prometheus::BuildCounter()
                   .Name("fwd_jsonl_dropped_total")
                   .Help("Lines of the --jsonl-dir files lost to a failed write (a full disk, "
                         "a file size limit), by file.")
                   .Register(registry)),
      client_lines_(counter(lines_, "client")),
      server_lines_(counter(lines_, "server")),
      client_dropped_(counter(dropped_, "client")),
      server_dropped_(counter(dropped_, "server")) {}

std::string JsonlWriter::clientLine(const fwd::v1::Record& r, const Bodies* bodies,
                                    std::string_view node_id) {
  Line line;
  line.str("time", google::protobuf::util::TimeUtil::ToString(r.time()))
      .str("id", r.id())
      .str("request_id", r.request_id())
      .str("node_id", node_id)
      .str("key", r.key_name())
      .str("client_ip", r.client_ip())
      .str("method", r.method())
      .str("path", r.path())
      .str("route", r.route())
      .str("model", r.model())
      .boolean("stream", r.stream())
      .integer("status", r.status())
      .str("error_code", r.error_code())
      .str("outcome", outcomeText(r.outcome()))
      .millis("latency_ms", r.latency_us());
  if (bodies != nullptr) {
    line.body("request", bodies->request).body("response", bodies->clientAnswer());
  }
  return line.done();
}

std::string JsonlWriter::serverLine(const fwd::v1::Record& r, const Bodies* bodies,
                                    std::string_view node_id) {
  if (r.upstream().empty()) {
    return {};
  }
  Line line;
  line.str("time", google::protobuf::util::TimeUtil::ToString(r.time()))
      .str("id", r.id())
      .str("request_id", r.request_id())
      .str("node_id", node_id)
      .str("upstream", r.upstream())
      .str("method", r.method())
      .str("path", r.path())
      .str("model", r.served_model())
      .boolean("stream", r.stream())
      .num("attempts", r.attempts())
      .integer("status", bodies != nullptr ? bodies->upstream_status : 0)
      .millis("ttfb_ms", r.ttfb_us())
      .millis("latency_ms", r.latency_us())
      .num("prompt_tokens", r.prompt_tokens())
      .num("completion_tokens", r.completion_tokens())
      .boolean("usage_estimated", r.usage_estimated());
  if (bodies != nullptr) {
    line.body("request", bodies->request_edited ? bodies->upstream_request : bodies->request)
        .body("response", bodies->answer);
  }
  return line.done();
}

void JsonlWriter::add(const fwd::v1::Record& r, const Bodies* bodies) {
  client_.add(clientLine(r, bodies, options_.node_id));
  if (std::string server = serverLine(r, bodies, options_.node_id); !server.empty()) {
    server_.add(server);
  }
}

void JsonlWriter::flush() {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  for (auto [file, lines, dropped] : {std::tuple{&client_, &client_lines_, &client_dropped_},
                                      std::tuple{&server_, &server_lines_, &server_dropped_}}) {
    std::uint64_t pending = file->pendingLines();
    if (pending == 0) {
      continue;
    }
    std::uint64_t lost = file->flush(now);
    lines->Increment(static_cast<double>(pending - lost));
    dropped->Increment(static_cast<double>(lost));
  }
}

}  // namespace fwd::dataplane::records
