import { applyRedactions, findIdentifyingDetails, type Finding } from '../nlp/redact/index.ts';
import { assessSafeguarding } from '../nlp/safeguarding/index.ts';
import { classifyText, suggestCriticality } from './models.ts';

/** Everything the language models say about one comment, computed once, anywhere (a worker thread too). */
export interface Analysis {
  title: string;
  body: string;
  titleFindings: Finding[];
  bodyFindings: Finding[];
  urgent: boolean;
  safeguarding: string[];
  suggestedCriticality: number;
  themes: Array<{ label: string; score: number }>;
  topics: string[];
  sentiment: string | null;
}

export interface AnalysisInput {
  title: string;
  body: string;
  rating: number | null;
}

export function analyse(input: AnalysisInput): Analysis {
  const bodyFindings = findIdentifyingDetails(input.body);
  const titleCore = input.title.replace(/…$/, '');
  const titleInBody = input.body.startsWith(titleCore);
  const titleFindings = (titleInBody && findingsWithin(bodyFindings, titleCore.length)) || findIdentifyingDetails(input.title);
  const text = input.title && !titleInBody ? `${input.title}. ${input.body}` : input.body;
  const safeguarding = assessSafeguarding(text);
  const { themes, sentiment, topics } = classifyText(text);
  return {
    title: applyRedactions(input.title, titleFindings),
    body: applyRedactions(input.body, bodyFindings),
    titleFindings,
    bodyFindings,
    urgent: safeguarding.urgent,
    safeguarding: safeguarding.reasons,
    suggestedCriticality: suggestCriticality(text, { urgent: safeguarding.urgent, rating: input.rating }),
    themes,
    topics,
    sentiment,
  };
}

/**
 * A title that is the start of its body (as a title made from the body is, or an FFT comment's) has
 * the body's findings within that start, at the same offsets: looking again would cost a third of
 * finding them, and the body's reading has seen what follows, which tells names from places
 * ("St James's…" is a hospital once the body goes on). Undefined when a finding straddles the end
 * of the title: a cut name is looked for in the title alone.
 */
function findingsWithin(findings: readonly Finding[], length: number): Finding[] | undefined {
  if (findings.some((f) => f.start < length && f.end > length)) return undefined;
  return findings.filter((f) => f.end <= length);
}

/** The rows of story_findings for an analysis: every identifying detail found, accepted. */
export function findingRows(storyId: string, a: Pick<Analysis, 'titleFindings' | 'bodyFindings'>, newId: () => string) {
  return [...a.titleFindings.map((f) => ({ field: 'title' as const, f })), ...a.bodyFindings.map((f) => ({ field: 'body' as const, f }))].map(({ field, f }) => ({
    id: newId(),
    story_id: storyId,
    field,
    type: f.type,
    start: f.start,
    end: f.end,
    text: f.text,
    replacement: f.replacement,
    accepted: 1,
  }));
}

export function analyseBatch(inputs: AnalysisInput[]): Analysis[] {
  return inputs.map(analyse);
}
