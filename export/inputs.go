package export

// PadTexts packs token sequences into the text graph's inputs: input_ids
// and attention_mask of shape [len(ids), L], L the longest sequence, right
// padded with id 0 and mask 0. ids and mask are reused when large enough.
func PadTexts(texts [][]int32, ids, mask []int64) (outIDs, outMask []int64, L int) {
	for _, t := range texts {
		L = max(L, len(t))
	}
	n := len(texts) * L
	if cap(ids) < n {
		ids = make([]int64, n)
	}
	if cap(mask) < n {
		mask = make([]int64, n)
	}
	ids, mask = ids[:n], mask[:n]
	clear(ids)
	clear(mask)
	for i, t := range texts {
		for j, id := range t {
			ids[i*L+j] = int64(id)
			mask[i*L+j] = 1
		}
	}
	return ids, mask, L
}
