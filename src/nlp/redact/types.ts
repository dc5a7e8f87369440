export type FindingType =
  | 'nhs_number'
  | 'phone'
  | 'email'
  | 'postcode'
  | 'date_of_birth'
  | 'date'
  | 'time'
  | 'address'
  | 'name'
  | 'url';

export interface Finding {
  type: FindingType;
  /** UTF-16 offset into the original text. */
  start: number;
  end: number;
  text: string;
  replacement: string;
}

/** A finding before overlaps are resolved: the higher priority wins a clash. */
export interface Candidate {
  type: FindingType;
  start: number;
  end: number;
  replacement: string;
  priority: number;
  /** names only: the role the context gave the person, used for staffNamesAllowed */
  role?: 'staff' | 'person' | 'unknown';
  /** names only: a first name standing alone (kept in praise when staff names are allowed) */
  firstNameOnly?: boolean;
}
