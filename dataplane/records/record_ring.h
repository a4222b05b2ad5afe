// A bounded single-producer single-consumer ring of record entries: one per worker, written by
// the worker thread (claim a slot, fill it in place, publish), read by the records sender's
// thread. No lock, no allocation after construction; a full ring refuses (the worker drops the
// record and counts it) instead of waiting.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "dataplane/records/record_entry.h"

namespace fwd::dataplane::records {

class RecordRing {
 public:
  /// `capacity` is rounded up to a power of two (at least 2).
  explicit RecordRing(size_t capacity) : mask_(roundUp(capacity) - 1) {
    slots_ = std::make_unique<RecordEntry[]>(mask_ + 1);
  }
  RecordRing(const RecordRing&) = delete;
  RecordRing& operator=(const RecordRing&) = delete;

  size_t capacity() const { return mask_ + 1; }

  /// Producer: a free slot to fill, or nullptr when the ring is full (counted in dropped()).
  /// The slot still holds the entry it held before: the producer sets every field (not clearing
  /// the whole entry spares touching the cache lines of fields a request leaves short, such as
  /// unused failed attempts). publish() hands it over.
  RecordEntry* claim() {
    std::uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_.load(std::memory_order_acquire) > mask_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    return &slots_[head & mask_];
  }
  void publish() {
    head_.store(head_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  /// Consumer: the oldest published entry, or nullptr; pop() frees it. The consumer may change
  /// the entry until then (it takes the entry's bodies).
  RecordEntry* front() {
    std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_.load(std::memory_order_acquire)) {
      return nullptr;
    }
    return &slots_[tail & mask_];
  }
  void pop() { tail_.store(tail_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }

  /// Entries refused because the ring was full, since the start; any thread.
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  static size_t roundUp(size_t n) {
    size_t p = 2;
    while (p < n) {
      p *= 2;
    }
    return p;
  }

  const size_t mask_;
  std::unique_ptr<RecordEntry[]> slots_;
  alignas(64) std::atomic<std::uint64_t> head_{0};  // next slot the producer fills
  alignas(64) std::atomic<std::uint64_t> tail_{0};  // next slot the consumer reads
  alignas(64) std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace fwd::dataplane::records
