#pragma once
// Word list for generated prose, needle keys and word tasks: the lower-case ASCII
// words (3-10 letters) of a system dictionary file, in file order.
#include <string>
#include <vector>

namespace sb {

// Throws sb::Error naming the file (and the wamerican package) when it is missing
// or has too few usable words.
const std::vector<std::string>& load_word_list(const std::string& path);

}  // namespace sb
