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
  const titleFindings = findIdentifyingDetails(input.title);
  const bodyFindings = findIdentifyingDetails(input.body);
  const text = input.title && !input.body.startsWith(input.title.replace(/…$/, '')) ? `${input.title}. ${input.body}` : input.body;
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
