import { useQuery } from "@tanstack/react-query";
import { endpointExists } from "./api";

/** Whether the server has an endpoint yet (the models and documents APIs arrive separately). */
export function useFeature(path: string) {
  return useQuery({ queryKey: ["feature", path], queryFn: () => endpointExists(path), staleTime: 60_000 });
}
