/**
 * Adds working days (Monday to Friday) to a moment, keeping its time of day. Bank holidays are not
 * counted out: they differ between the four nations and by year, and a target a day early errs on
 * the side of the patient.
 */
export function addWorkingDays(from: Date, days: number): Date {
  const d = new Date(from.getTime());
  let left = days;
  while (left > 0) {
    d.setUTCDate(d.getUTCDate() + 1);
    const dow = d.getUTCDay();
    if (dow !== 0 && dow !== 6) left--;
  }
  return d;
}
