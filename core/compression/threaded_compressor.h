// Compression overlapped with the producer: CSV is handed over in 1 MiB
// chunks to a thread that compresses them in order, while the calling
// (PostgreSQL) thread goes on scanning and encoding. The compressed output
// is written downstream by the calling thread only, so storage, interrupt
// checks and errors stay on the thread that owns them.
//
// The thread blocks every signal (signals must reach the backend's main
// thread) and never calls PostgreSQL. Memory is bounded: at most
// kMaxChunksInFlight chunks of input and their output exist at once.
#pragma once

#include <memory>

#include "common/byte_stream.h"
#include "compression/compression.h"

namespace cdw {

// A ByteSink compressing into `downstream` (not owned) on a helper thread.
// Finish() writes the trailer and finishes `downstream`.
std::unique_ptr<ByteSink> MakeThreadedCompressor(Compression compression, int level,
                                                 ByteSink *downstream);

}  // namespace cdw
