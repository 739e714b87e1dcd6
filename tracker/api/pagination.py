from typing import Any

from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """`?page=N` (50 rows a page), `?page_size=` up to 200. A page past the last one is 404."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        response = super().get_paginated_response_schema(schema)
        # Every page has all four keys; `next` and `previous` are null at either end.
        response["required"] = ["count", "next", "previous", "results"]
        return response
