/** A sentence made to follow a colon or a comma: "Reading…" → "reading…". */
export const lowerFirst = (text: string): string => text.charAt(0).toLowerCase() + text.slice(1);
