// "Perhaps you meant ..." suggestions for misspelled option names, like
// PostgreSQL 16's getClosestMatch() (which PostgreSQL 15 lacks).
#pragma once

#include <string>
#include <vector>

namespace cdw {

// The candidate nearest to `word` by edit distance, or "" when none is
// close enough (more than half of the word would have to change).
std::string ClosestMatch(const std::string &word, const std::vector<std::string> &candidates);

}  // namespace cdw
