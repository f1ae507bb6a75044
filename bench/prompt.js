/** The benchmark prompt: BOS then P-1 pseudo-random ordinary token ids (past the 259 control and byte pieces). */
export function promptIds(vocabSize, length) {
  const ids = [1];
  let s = 12345;
  while (ids.length < length) {
    s = (s * 1103515245 + 12345) % 2147483648;
    ids.push(259 + (s % (vocabSize - 259)));
  }
  return ids;
}
