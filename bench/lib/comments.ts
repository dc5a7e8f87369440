// The real NHS comments shipped for the demo (src/demo/data/comments.jsonl, see its NOTICE.md):
// every benchmark draws its texts from them, so lengths, words and identifying details are real.
// They are read as the demo seeding reads them (src/demo/comments.ts).
import { loadComments } from '../../src/demo/comments.ts';

export { criticalityOf, isNegative, loadComments, ratingOf, type Comment } from '../../src/demo/comments.ts';

export const commentTexts = (): string[] => loadComments().map((c) => c.text);
